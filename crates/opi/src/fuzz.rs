//! Fuzz target bodies, as plain functions: the cargo-fuzz targets in `fuzz/` call them, and an
//! ordinary test runs them over every fixture file, so CI on stable exercises them too.
//!
//! Each body checks properties, not just "does not panic": whatever decodes must re-encode and
//! decode to the same message in both encodings, and framing must not depend on how the stream
//! was split.

use crate::frame::{FrameBuffer, FrameDecoder};
use crate::model::Encoding;

/// Decodes arbitrary bytes as one message; on success, checks the encode/decode round trip.
pub fn xml(data: &[u8]) {
    match crate::decode(data) {
        Ok(message) => {
            for encoding in [Encoding::Utf8, Encoding::Iso8859_1] {
                let bytes = crate::encode(&message, encoding);
                match crate::decode(&bytes) {
                    Ok(again) => assert_eq!(again, message, "re-decoded message differs ({encoding:?})"),
                    Err(e) => panic!("re-encoded message does not decode ({encoding:?}): {e}"),
                }
            }
        }
        Err(e) => {
            // Building the error text and the error response must not panic either.
            let _ = e.to_string();
            let _ = crate::error_response(&e);
        }
    }
}

/// Splits arbitrary bytes into frames (limit: 4 KiB) twice, once whole and once fed in chunks
/// whose sizes come from the data; both must give the same frames and the same final error.
/// Every frame's payload also goes through [`xml`].
pub fn frames(data: &[u8]) {
    let decoder = FrameDecoder::with_max_frame_len(4096);
    let whole = {
        let mut b = FrameBuffer::new(decoder);
        b.push(data);
        drain(&mut b)
    };
    let chunked = {
        let mut b = FrameBuffer::new(decoder);
        let mut out = (Vec::new(), None);
        let mut rest = data;
        let mut step = 1usize;
        while !rest.is_empty() && out.1.is_none() {
            let n = step.min(rest.len());
            b.push(&rest[..n]);
            rest = &rest[n..];
            step = usize::from(data[step % data.len()] % 17) + 1;
            let (frames, err) = drain(&mut b);
            out.0.extend(frames);
            out.1 = err;
        }
        out
    };
    assert_eq!(whole, chunked, "chunking changed the frames");
    for payload in &whole.0 {
        xml(payload);
    }
}

fn drain(b: &mut FrameBuffer) -> (Vec<Vec<u8>>, Option<crate::frame::FrameError>) {
    let mut frames = Vec::new();
    // Each frame is at least 5 bytes, so the loop ends after buffered/5 frames at most.
    loop {
        match b.next_frame() {
            Ok(Some(f)) => frames.push(f),
            Ok(None) => return (frames, None),
            Err(e) => return (frames, Some(e)),
        }
    }
}
