//! `tokio_util::codec` adapters for the IO crates (cargo feature `codec`).
//!
//! [`OpiCodec`] turns a byte stream into decoded messages and messages into frames. Frame-level
//! problems (zero length, over the limit) are the codec's fatal [`CodecError`]: the stream
//! cannot be resynchronised. A frame whose XML does not decode is **not** fatal: it comes out as
//! an `Err(DecodeError)` item, so the connection can answer it (see
//! [`error_response`](crate::error_response)) and carry on. [`FrameCodec`] does the framing
//! only, for code that wants the raw payloads.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::error::DecodeError;
use crate::frame::{FrameDecoder, FrameError, HEADER_LEN};
use crate::model::{Encoding, Message};

/// A fatal stream error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The framing is broken; close the connection.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The transport failed.
    #[error("transport error: {0}")]
    Io(#[from] std::io::Error),
}

/// Length-prefixed frames in, raw payloads out (and back).
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameCodec {
    frames: FrameDecoder,
}

impl FrameCodec {
    /// A codec with the given frame limit (applies to both directions).
    pub fn new(frames: FrameDecoder) -> FrameCodec {
        FrameCodec { frames }
    }
}

fn next_payload(frames: &FrameDecoder, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
    match frames.check(src)? {
        Some(n) => {
            let mut frame = src.split_to(n);
            frame.advance(HEADER_LEN);
            Ok(Some(frame.freeze()))
        }
        None => {
            // The limit was checked by `check`, so this reservation is bounded by it.
            src.reserve(frames.needed(src)?);
            Ok(None)
        }
    }
}

fn put_frame(frames: &FrameDecoder, payload: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
    let max = frames.max_frame_len();
    let len = u32::try_from(payload.len()).ok().filter(|l| *l > 0 && payload.len() <= max).ok_or(
        if payload.is_empty() {
            FrameError::ZeroLength { offset: 0 }
        } else {
            FrameError::TooLarge { len: payload.len() as u64, max }
        },
    )?;
    dst.reserve(HEADER_LEN + payload.len());
    dst.put_u32(len);
    dst.put_slice(payload);
    Ok(())
}

impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        next_payload(&self.frames, src)
    }
}

impl Encoder<&[u8]> for FrameCodec {
    type Error = CodecError;

    fn encode(&mut self, payload: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        put_frame(&self.frames, payload, dst)
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = CodecError;

    fn encode(&mut self, payload: Bytes, dst: &mut BytesMut) -> Result<(), CodecError> {
        put_frame(&self.frames, &payload, dst)
    }
}

/// Frames in, decoded messages out; messages in, frames out.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpiCodec {
    frames: FrameDecoder,
    encoding: Encoding,
}

impl OpiCodec {
    /// A codec with the given frame limit that writes `encoding`.
    pub fn new(frames: FrameDecoder, encoding: Encoding) -> OpiCodec {
        OpiCodec { frames, encoding }
    }
}

impl Decoder for OpiCodec {
    /// One frame's message, or why its XML did not decode (not fatal).
    type Item = Result<Message, DecodeError>;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        Ok(next_payload(&self.frames, src)?.map(|payload| crate::decode(&payload)))
    }
}

impl Encoder<&Message> for OpiCodec {
    type Error = CodecError;

    fn encode(&mut self, message: &Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        put_frame(&self.frames, &crate::encode(message, self.encoding), dst)
    }
}

impl Encoder<Message> for OpiCodec {
    type Error = CodecError;

    fn encode(&mut self, message: Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode(&message, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn login() -> Message {
        Message::ServiceRequest(ServiceRequest {
            header: Header { workstation_id: "POS1".into(), request_id: "7".into(), ..Header::default() },
            request_type: ServiceRequestType::Login,
            pos_data: None,
            private_data: None,
        })
    }

    #[test]
    fn round_trip_through_the_codec() {
        let mut codec = OpiCodec::default();
        let mut buf = BytesMut::new();
        codec.encode(&login(), &mut buf).unwrap();
        codec.encode(login(), &mut buf).unwrap();
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(Ok(login())));
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(Ok(login())));
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
    }

    #[test]
    fn bad_xml_is_an_item_and_bad_framing_is_fatal() {
        let mut codec = OpiCodec::default();
        let mut buf = BytesMut::new();
        FrameCodec::default().encode(&b"<ServiceRequest"[..], &mut buf).unwrap();
        buf.put_u32(0);
        let item = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(item.unwrap_err().overall_result(), OverallResult::ParsingError);
        assert!(matches!(codec.decode(&mut buf), Err(CodecError::Frame(FrameError::ZeroLength { .. }))));
    }

    #[test]
    fn oversize_frames_are_refused_both_ways() {
        let mut codec = FrameCodec::new(FrameDecoder::with_max_frame_len(8));
        let mut buf = BytesMut::new();
        assert!(codec.encode(&[b'x'; 9][..], &mut buf).is_err());
        buf.put_u32(9);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(CodecError::Frame(FrameError::TooLarge { len: 9, max: 8 }))
        ));
    }
}
