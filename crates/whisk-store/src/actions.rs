//! Typed helpers for action documents (being written).
