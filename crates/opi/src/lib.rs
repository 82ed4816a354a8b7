//! OPI_NL for the CCV terminal emulator: the message model, the XML codec and the
//! length-prefixed framing, with no IO.
//!
//! **What it does.** Turns the bytes of one OPI message into a typed [`Message`] ([`decode`])
//! and back ([`encode`]); finds frames (4-byte big-endian length, then the XML) in a byte
//! buffer ([`FrameDecoder`]); maps every decode failure to the OPI `OverallResult` a terminal
//! answers with and builds that answer ([`error_response`]). The wire is described in
//! `docs/OPI.md`.
//!
//! **What it does not do.** No sockets, no async runtime, no clock, no files, no logging: the
//! caller owns the connection and the time stamps. The `codec` feature adds
//! `tokio_util::codec` adapters (`codec::OpiCodec`) and still performs no IO itself.
//!
//! ```
//! use ccv_opi::{decode, encode, Encoding, Message};
//! let xml = br#"<ServiceRequest xmlns="http://www.nrf-arts.org/IXRetail/namespace"
//!     RequestType="Login" WorkstationID="POS1" RequestID="1"/>"#;
//! let msg = decode(xml).unwrap();
//! assert!(matches!(msg, Message::ServiceRequest(_)));
//! assert_eq!(decode(&encode(&msg, Encoding::Utf8)).unwrap(), msg);
//! ```
//!
//! Layout:
//! - [`model`]: the typed messages, each element described once (its struct, how it is read and
//!   written), and the value types (time stamps, PANs, request types, results)
//! - [`amount`]: [`Amount`] and [`Currency`], the workspace's one amount type: decimal text
//!   parsed and formatted without floating point
//! - `schema`: the description macros and the field kinds behind them
//! - `xml`: the reader (quick-xml events, borrowed attribute values and texts, well-formedness
//!   checks and limits) and the writer under the descriptions
//! - `decode` / `encode`: bytes ↔ [`Message`] (character encodings, the root element, errors)
//! - [`error`]: [`DecodeError`] and its `OverallResult`; `reply` (private, re-exported): [`error_response`];
//!   `kinds` (private, re-exported): [`MessageKind`], [`OverallResult`]
//! - [`frame`]: [`FrameDecoder`], [`FrameBuffer`], [`encode_frame`]
//! - `codec` (feature `codec`): tokio-util `Decoder`/`Encoder`
//! - [`fuzz`]: fuzz target bodies, also run as tests over the fixtures

pub mod amount;
#[cfg(feature = "codec")]
pub mod codec;
mod decode;
mod encode;
pub mod error;
pub mod frame;
pub mod fuzz;
mod kinds;
pub mod model;
mod reply;
mod schema;
mod xml;

pub use decode::decode;
pub use encode::{EncodeOptions, encode, encode_with};
pub use error::{DecodeError, DecodeErrorKind, PartialHeader};
pub use frame::{DEFAULT_MAX_FRAME_LEN, FrameBuffer, FrameDecoder, FrameError, encode_frame};
pub use model::*;
pub use reply::error_response;
