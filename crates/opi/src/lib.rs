//! OPI_NL message model, XML codec and length-prefixed framing (being written).

pub mod model;

pub use model::*;
