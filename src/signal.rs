//! Signals and slots (being written).
