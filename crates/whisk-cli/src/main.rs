//! whisk-cli (being written).
fn main() {}
