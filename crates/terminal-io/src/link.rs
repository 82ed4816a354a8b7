//! The terminal's side of an OPI socket: dialling the TAS (one attempt, with a time-out), TLS on that socket when
//! the TAS link is mutual TLS, the hand-shake (`ccv_wire::handshake`, `docs/TAS_HANDSHAKE.md`), framing through
//! `ccv_opi::codec::OpiCodec`.

use std::sync::Arc;
use std::time::Duration;

use ccv_opi::codec::{CodecError, OpiCodec};
use ccv_opi::{DecodeError, Encoding, FrameDecoder, Message};
use ccv_terminal::{HostPort, TasDialFailure};
use ccv_wire::handshake;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

/// A byte stream an OPI connection runs on: a TCP socket, or TLS over one.
pub trait Socket: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Socket for T {}

/// An OPI connection: length-prefixed frames of OPI XML.
pub type OpiStream = Framed<Box<dyn Socket>, OpiCodec>;

/// Wraps a TCP socket in the OPI codec with a frame limit.
pub fn opi_stream(stream: TcpStream, max_frame: usize) -> OpiStream {
    let _ = stream.set_nodelay(true);
    framed(Box::new(stream), max_frame)
}

/// Wraps any [`Socket`] in the OPI codec with a frame limit.
pub fn framed(socket: Box<dyn Socket>, max_frame: usize) -> OpiStream {
    Framed::new(socket, OpiCodec::new(FrameDecoder::with_max_frame_len(max_frame), Encoding::Utf8))
}

/// Runs the TLS hand-shake of the TAS link on a dialled socket, at most `timeout`: the TAS's certificate must
/// name `target`'s host (a name or an IP address) and chain to the PKI's CA; `tls` presents the terminal's own.
pub async fn secure(
    stream: TcpStream,
    target: &HostPort,
    tls: &Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let _ = stream.set_nodelay(true);
    let host = target.bare_host().to_owned();
    let name = rustls::pki_types::ServerName::try_from(host.clone())
        .map_err(|e| format!("{host:?} cannot be a TLS server name: {e}"))?;
    let connect = tokio_rustls::TlsConnector::from(tls.clone()).connect(name, stream);
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(err)) => Err(format!("TLS hand-shake with the TAS failed: {err}")),
        Err(_) => Err(format!("no TLS hand-shake from the TAS within {timeout:?}")),
    }
}

/// Dials `target` once, at most `timeout`: resolves the name, connects to its addresses in turn. `latency` is
/// the network's added delay (a sandbox's fault switch; zero normally): it passes before the connection is made
/// and counts against `timeout`, as a slow network's would.
///
/// Whether a host name may be dialled at all (R23, DNS configured) is the core's rule, checked before it asks.
pub async fn dial(
    target: &HostPort,
    timeout: Duration,
    latency: Duration,
) -> Result<TcpStream, TasDialFailure> {
    let host = target.bare_host().to_owned();
    let connect = async {
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_is_refused() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let err = dial(&HostPort::new("127.0.0.1", port), Duration::from_secs(2), Duration::ZERO)
            .await
            .unwrap_err();
        assert_eq!(err, TasDialFailure::Refused);
    }

    #[tokio::test]
    async fn latency_delays_the_connection_and_counts_against_the_time_out() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = HostPort::new("127.0.0.1", l.local_addr().unwrap().port());
        let latency = Duration::from_millis(200);
        let asked = tokio::time::Instant::now();
        let (dialled, accepted) = tokio::join!(dial(&target, Duration::from_secs(5), latency), async {
            l.accept().await.map(|_| tokio::time::Instant::now())
        });
        dialled.unwrap();
        assert!(accepted.unwrap() - asked >= latency, "the connection arrived before the latency had passed");
        let slow = dial(&target, Duration::from_millis(100), latency).await.unwrap_err();
        assert_eq!(slow, TasDialFailure::TimedOut);
    }
}
