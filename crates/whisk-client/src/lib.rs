//! whisk-client (being written).
