//! whiskd (being written).
fn main() {}
