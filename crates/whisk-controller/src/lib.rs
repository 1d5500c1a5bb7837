//! whisk-controller (being written).
