//! HTTP requests no client library sends: heads far beyond any server's limits, over a raw TCP socket, to see
//! what an HTTP listener does with them.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An oversize request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderFlood {
    /// One header whose value has this many bytes.
    OneHuge(usize),
    /// This many small headers (`x-flood-N: 1`).
    Many(usize),
}

impl HeaderFlood {
    /// The two floods every HTTP listener is tested with: one header of 1 MiB, and 10,000 small headers (about
    /// 150 KiB, so that a limit on the count is what refuses them).
    pub const BOTH: [HeaderFlood; 2] = [HeaderFlood::OneHuge(1024 * 1024), HeaderFlood::Many(10_000)];
}

/// What a server did with a flooded request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloodAnswer {
    /// It answered with this status code (and, for a refusal, closed the connection).
    Status(u16),
    /// It closed (or reset) the connection without an answer the client could read.
    Closed,
}

impl FloodAnswer {
    /// `431 Request Header Fields Too Large`, or the connection closed: the two ways to refuse a flooded head.
    pub fn is_refusal(self) -> bool {
        matches!(self, FloodAnswer::Status(431) | FloodAnswer::Closed)
    }
}

/// Sends `GET {path}` to `addr` with `flood`'s headers (after `Host`) and reads the answer's status line, while
/// still sending: a server that refuses the head answers or closes before reading all of it. `Err` when the
/// server neither answered nor closed within `timeout` (it waits for more of a head it should have refused).
pub async fn send_header_flood(
    addr: SocketAddr,
    path: &str,
    flood: HeaderFlood,
    timeout: Duration,
) -> Result<FloodAnswer, String> {
    let mut head = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n").into_bytes();
    match flood {
        HeaderFlood::OneHuge(bytes) => {
            head.extend_from_slice(b"x-flood: ");
            head.resize(head.len() + bytes, b'a');
            head.extend_from_slice(b"\r\n");
        }
        HeaderFlood::Many(count) => {
            for i in 0..count {
                head.extend_from_slice(format!("x-flood-{i}: 1\r\n").as_bytes());
            }
        }
    }
    head.extend_from_slice(b"\r\n");
    let stream = TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let (mut reader, mut writer) = stream.into_split();
    // The writer stops at the server's close (a write error); it is aborted once the answer is read, so a server
    // that answers without reading the rest cannot hold the test.
    let sending = tokio::spawn(async move {
        let _ = writer.write_all(&head).await;
        let _ = writer.flush().await;
        // Keep the sending side open: a half-close would be an end of the request of its own.
        std::future::pending::<()>().await;
    });
    let status_line = async {
        let mut seen = Vec::new();
        let mut chunk = [0u8; 4096];
        // Bounded: at most 64 reads of 4 KiB before a status line must have come.
        for _ in 0..64 {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&chunk[..n]),
            }
            if seen.windows(2).any(|w| w == b"\r\n") {
                break;
            }
        }
        seen
    };
    let answer = tokio::time::timeout(timeout, status_line).await;
    sending.abort();
    let seen =
        answer.map_err(|_| format!("{addr} neither answered nor closed within {timeout:?} ({flood:?})"))?;
    let text = String::from_utf8_lossy(&seen);
    let mut words = text.split_whitespace();
    match (words.next(), words.next().and_then(|code| code.parse().ok())) {
        (Some(version), Some(code)) if version.starts_with("HTTP/1.") => Ok(FloodAnswer::Status(code)),
        _ if seen.is_empty() => Ok(FloodAnswer::Closed),
        _ => Err(format!("{addr} answered something that is not HTTP: {text:?}")),
    }
}
