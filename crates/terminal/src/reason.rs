//! Typed reasons: why a kick was refused, why a link is down, and what a diagnosis finds (R23).
//!
//! They are the names both ends of a link read, so they live in `ccv-wire`; the core re-exports them. Every
//! reason serialises in `snake_case` and has a [`message`](WireReason::message) that says what was wrong and
//! what to do.

pub use ccv_wire::reason::{DiagnosisReason, KickRefusal, MqttDownReason, TasDialFailure, WireReason};
