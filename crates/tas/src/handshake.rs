//! The TAS hand-shake, as both ends agree on it: `ccv_wire::handshake` (see `docs/TAS_HANDSHAKE.md`).

pub use ccv_wire::handshake::{
    HELLO_REQUEST_ID, HandshakeError, Hello, PROTOCOL, answer, hello_message, parse_hello,
};
