//! (being written)
pub mod kick;
