//! The terminal's side of an OPI socket: dialling the TAS (DNS rule, time-out), the hand-shake
//! (`ccv_wire::handshake`, `docs/TAS_HANDSHAKE.md`), framing through `ccv_opi::codec::OpiCodec`, and back-off with jitter.

use std::time::Duration;

use ccv_opi::codec::{CodecError, OpiCodec};
use ccv_opi::{DecodeError, Encoding, FrameDecoder, Message};
use ccv_terminal::{HostPort, TasDialFailure};
use ccv_wire::handshake;
use futures::{SinkExt, StreamExt};
use rand::Rng;
use rand::rngs::SmallRng;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

/// An OPI connection: length-prefixed frames of OPI XML.
pub type OpiStream = Framed<TcpStream, OpiCodec>;

/// Wraps a socket in the OPI codec with a frame limit.
pub fn opi_stream(stream: TcpStream, max_frame: usize) -> OpiStream {
    let _ = stream.set_nodelay(true);
    Framed::new(stream, OpiCodec::new(FrameDecoder::with_max_frame_len(max_frame), Encoding::Utf8))
}

/// Dials `target`. A host name fails with [`TasDialFailure::Dns`] when DNS is not configured (R23).
pub async fn dial(
    target: &HostPort,
    dns_configured: bool,
    timeout: Duration,
) -> Result<TcpStream, TasDialFailure> {
    if !dns_configured && !target.is_literal_ip() {
        return Err(TasDialFailure::Dns);
    }
    let host = target.host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let connect = async {
        let addrs: Vec<_> = match tokio::net::lookup_host((host.as_str(), target.port)).await {
            Ok(a) => a.collect(),
            Err(_) => return Err(TasDialFailure::Dns),
        };
        let mut last = TasDialFailure::Dns;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => return Ok(s),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => last = TasDialFailure::Refused,
                Err(_) => last = TasDialFailure::Network,
            }
        }
        Err(last)
    };
    match tokio::time::timeout(timeout, connect).await {
        Ok(res) => res,
        Err(_) => Err(TasDialFailure::TimedOut),
    }
}

/// Sends the hand-shake and waits for the TAS's `Login` answer.
pub async fn handshake(
    stream: &mut OpiStream,
    tms_id: &str,
    reference: Option<&str>,
    software: &str,
    timeout: Duration,
) -> Result<(), String> {
    let work = async {
        stream
            .send(handshake::hello_message(tms_id, reference, Some(software)))
            .await
            .map_err(|e| e.to_string())?;
        match stream.next().await {
            None => Err("the TAS closed the connection during the hand-shake".to_owned()),
            Some(Err(e)) => Err(format!("framing error during the hand-shake: {e}")),
            Some(Ok(Err(e))) => Err(format!("the TAS's hand-shake answer does not decode: {e}")),
            Some(Ok(Ok(answer))) => handshake::check_answer(&answer).map_err(|e| e.to_string()),
        }
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(format!("no hand-shake answer from the TAS within {timeout:?}")),
    }
}

/// What to do with one item read from an OPI stream.
#[derive(Debug)]
pub enum Received {
    /// A decoded message for the core.
    Message(Message),
    /// The frame did not decode but its header was readable: send this error response and carry on.
    Answer { response: Message, error: String },
    /// The frame did not decode and nobody can be answered: log and drop it.
    Dropped { error: String },
    /// The connection is finished (closed, or its framing is broken).
    Closed { reason: String },
}

/// Classifies one item read from an [`OpiStream`] (`StreamExt::next`).
pub fn classify(item: Option<Result<Result<Message, DecodeError>, CodecError>>) -> Received {
    match item {
        None => Received::Closed { reason: "closed by the peer".into() },
        Some(Err(e)) => Received::Closed { reason: format!("framing error: {e}") },
        Some(Ok(Ok(m))) => Received::Message(m),
        Some(Ok(Err(e))) => match ccv_opi::error_response(&e) {
            Some(response) => Received::Answer { response, error: e.to_string() },
            None => Received::Dropped { error: e.to_string() },
        },
    }
}

/// Exponential back-off with ±20 % jitter.
#[derive(Debug)]
pub struct Backoff {
    next_ms: u64,
    max_ms: u64,
    rng: SmallRng,
}

impl Backoff {
    /// Starts at `initial_ms`, doubles up to `max_ms`; the jitter comes from `rng`.
    pub fn new(initial_ms: u64, max_ms: u64, rng: SmallRng) -> Self {
        Self { next_ms: initial_ms.max(1), max_ms: max_ms.max(1), rng }
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next_ms.min(self.max_ms);
        self.next_ms = base.saturating_mul(2).min(self.max_ms);
        let jitter = base / 5;
        let ms = if jitter == 0 { base } else { self.rng.random_range(base - jitter..=base + jitter) };
        Duration::from_millis(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_doubles_with_bounded_jitter_up_to_the_cap() {
        let mut b = Backoff::new(100, 1000, SmallRng::seed_from_u64(7));
        let bases = [100u64, 200, 400, 800, 1000, 1000];
        for base in bases {
            let d = b.next_delay().as_millis() as u64;
            assert!(d >= base - base / 5 && d <= base + base / 5, "{d} vs {base}");
        }
    }

    #[tokio::test]
    async fn a_host_name_without_dns_fails_with_dns() {
        let err =
            dial(&HostPort::new("TAS.JFORCE.BE", 5555), false, Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(err, TasDialFailure::Dns);
    }

    #[tokio::test]
    async fn a_closed_port_is_refused() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let err = dial(&HostPort::new("127.0.0.1", port), false, Duration::from_secs(2)).await.unwrap_err();
        assert_eq!(err, TasDialFailure::Refused);
    }
}
