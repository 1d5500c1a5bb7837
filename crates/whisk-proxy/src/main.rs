//! whisk-proxy (being written).
fn main() {}
