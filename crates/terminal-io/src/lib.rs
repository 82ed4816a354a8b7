//! (being written)
pub mod kick;
pub mod kick_client;
