//! The embedded sample lake (being written).
