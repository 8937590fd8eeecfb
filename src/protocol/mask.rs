//! Masking (being written).
