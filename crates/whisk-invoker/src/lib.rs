//! whisk-invoker (being written).
