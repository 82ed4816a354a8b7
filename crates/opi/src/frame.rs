//! Length-prefixed framing: a 4-byte big-endian payload length, then the payload (the XML).
//!
//! Split as in mini-redis: [`FrameDecoder::check`] says whether a whole frame is in the buffer
//! (`Ok(None)` = incomplete, wait for more bytes) or the stream is broken (`Err`); only then
//! is anything taken out. The length is checked against the maximum **before** any buffer is
//! grown for the payload, and a zero length is an error (an empty frame carries no message).
//! The decoder keeps no state between calls, so any split of the byte stream decodes to the
//! same frames.

/// The default largest payload accepted: 64 KiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 64 * 1024;

/// Length of the prefix.
pub const HEADER_LEN: usize = 4;

/// A framing error: the stream cannot be resynchronised and the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix is zero.
    #[error("frame length is 0 at stream byte {offset}: every frame must carry an OPI message")]
    ZeroLength {
        /// Offset of the prefix in the stream (counted by the caller's buffer position).
        offset: usize,
    },
    /// The length prefix exceeds the configured maximum.
    #[error(
        "frame length {len} exceeds the maximum of {max} bytes (is this an OPI stream with a 4-byte \
         big-endian length prefix?)"
    )]
    TooLarge {
        /// The announced payload length.
        len: u64,
        /// The configured maximum.
        max: usize,
    },
}

/// Finds frames in a byte buffer. Pure: no IO, no state besides its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDecoder {
    max_frame_len: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder { max_frame_len: DEFAULT_MAX_FRAME_LEN }
    }
}

impl FrameDecoder {
    /// A decoder with the default limit of 64 KiB.
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    /// A decoder with another payload limit (at least 1 byte).
    pub fn with_max_frame_len(max_frame_len: usize) -> FrameDecoder {
        FrameDecoder { max_frame_len: max_frame_len.max(1) }
    }

    /// The payload limit.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Is a whole frame at the start of `buf`? `Ok(Some(n))`: yes, `n` bytes long including
    /// the prefix; `Ok(None)`: not yet (incomplete); `Err`: the stream is invalid.
    pub fn check(&self, buf: &[u8]) -> Result<Option<usize>, FrameError> {
        let Some(prefix) = buf.first_chunk::<HEADER_LEN>() else { return Ok(None) };
        let len = u32::from_be_bytes(*prefix);
        if len == 0 {
            return Err(FrameError::ZeroLength { offset: 0 });
        }
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= self.max_frame_len)
            .ok_or(FrameError::TooLarge { len: u64::from(len), max: self.max_frame_len })?;
        Ok(if buf.len() >= HEADER_LEN + len { Some(HEADER_LEN + len) } else { None })
    }

    /// The payload of the first frame in `buf` and the number of bytes it occupies, or
    /// `Ok(None)` if the frame is not complete yet.
    pub fn decode<'b>(&self, buf: &'b [u8]) -> Result<Option<(&'b [u8], usize)>, FrameError> {
        Ok(self.check(buf)?.map(|n| (&buf[HEADER_LEN..n], n)))
    }

    /// How many more bytes are needed before [`check`](Self::check) can say yes (0 when a frame
    /// is complete). Useful to reserve buffer space, after the limit was checked.
    pub fn needed(&self, buf: &[u8]) -> Result<usize, FrameError> {
        let Some(prefix) = buf.first_chunk::<HEADER_LEN>() else { return Ok(HEADER_LEN - buf.len()) };
        let total = match self.check(buf)? {
            Some(_) => return Ok(0),
            None => HEADER_LEN + u32::from_be_bytes(*prefix) as usize,
        };
        Ok(total.saturating_sub(buf.len()))
    }
}

/// Appends one frame (prefix and payload) to `out`. Fails if the payload is empty or longer
/// than `max_frame_len` (the peer would refuse it).
pub fn encode_frame(payload: &[u8], max_frame_len: usize, out: &mut Vec<u8>) -> Result<(), FrameError> {
    if payload.is_empty() {
        return Err(FrameError::ZeroLength { offset: out.len() });
    }
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|l| payload.len() <= max_frame_len && *l > 0)
        .ok_or(FrameError::TooLarge { len: payload.len() as u64, max: max_frame_len })?;
    out.reserve(HEADER_LEN + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// An owned buffer for feeding a stream in arbitrary chunks and taking whole frames out.
///
/// Call order: [`push`](Self::push) whatever arrived, then [`next_frame`](Self::next_frame)
/// until it returns `Ok(None)`. After an `Err` the stream is broken; the buffer stays as it was.
#[derive(Debug, Default)]
pub struct FrameBuffer {
    decoder: FrameDecoder,
    buf: Vec<u8>,
    consumed: usize,
}

impl FrameBuffer {
    /// An empty buffer with the given decoder's limit.
    pub fn new(decoder: FrameDecoder) -> FrameBuffer {
        FrameBuffer { decoder, buf: Vec::new(), consumed: 0 }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Takes the next whole frame's payload out, if there is one.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let offset = self.consumed;
        match self.decoder.decode(&self.buf).map_err(|e| match e {
            FrameError::ZeroLength { .. } => FrameError::ZeroLength { offset },
            other => other,
        })? {
            None => Ok(None),
            Some((payload, n)) => {
                let payload = payload.to_vec();
                self.buf.drain(..n);
                self.consumed += n;
                Ok(Some(payload))
            }
        }
    }

    /// Bytes received but not yet taken out as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_frame(payload, DEFAULT_MAX_FRAME_LEN, &mut v).unwrap();
        v
    }

    #[test]
    fn incomplete_is_not_invalid() {
        let d = FrameDecoder::new();
        let f = frame(b"<x/>");
        for cut in 0..f.len() {
            assert_eq!(d.check(&f[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(d.check(&f), Ok(Some(8)));
        assert_eq!(d.decode(&f).unwrap(), Some((&b"<x/>"[..], 8)));
    }

    #[test]
    fn zero_length_is_an_error() {
        assert!(matches!(FrameDecoder::new().check(&[0, 0, 0, 0]), Err(FrameError::ZeroLength { .. })));
        assert!(encode_frame(b"", 10, &mut Vec::new()).is_err());
    }

    #[test]
    fn oversize_is_refused_from_the_prefix_alone() {
        let d = FrameDecoder::with_max_frame_len(10);
        assert_eq!(d.check(&[0, 0, 0, 11]), Err(FrameError::TooLarge { len: 11, max: 10 }));
        assert_eq!(
            d.check(&[0xff, 0xff, 0xff, 0xff]),
            Err(FrameError::TooLarge { len: u32::MAX.into(), max: 10 })
        );
        assert_eq!(d.check(&[0, 0, 0, 10]), Ok(None));
        assert!(encode_frame(&[b'a'; 11], 10, &mut Vec::new()).is_err());
    }

    #[test]
    fn needed_counts_missing_bytes() {
        let d = FrameDecoder::new();
        assert_eq!(d.needed(&[]), Ok(4));
        assert_eq!(d.needed(&[0, 0, 0, 3, b'a']), Ok(2));
        assert_eq!(d.needed(&[0, 0, 0, 1, b'a']), Ok(0));
    }

    #[test]
    fn buffer_reports_stream_offset_of_a_zero_frame() {
        let mut b = FrameBuffer::default();
        b.push(&frame(b"abc"));
        b.push(&[0, 0, 0, 0]);
        assert_eq!(b.next_frame(), Ok(Some(b"abc".to_vec())));
        assert_eq!(b.next_frame(), Err(FrameError::ZeroLength { offset: 7 }));
    }
}
