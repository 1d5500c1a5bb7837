//! The embedded bus (being written).
/// The embedded bus.
#[derive(Debug)]
pub struct EmbeddedBus;
