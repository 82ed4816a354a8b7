//! The loopback floor for the Cloud Connect 1.0 benchmark: a plain length-prefixed echo server and clients that
//! do a given number of frame round trips of a given size. Shared by the `cc1` bench through `#[path]`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder().length_field_length(4).max_frame_length(1 << 20).new_codec()
}

/// Starts an echo server on 127.0.0.1:0; every frame received is sent back unchanged.
pub async fn start_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the echo server");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let mut framed = Framed::new(stream, codec());
                while let Some(Ok(frame)) = framed.next().await {
                    if framed.send(frame.freeze()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// `clients` connections each run "transactions" of `round_trips` echo round trips of `frame_size` bytes for
/// `duration`; returns transactions per second over all clients.
pub async fn echo_rate(
    addr: SocketAddr,
    clients: usize,
    round_trips: usize,
    frame_size: usize,
    duration: Duration,
) -> f64 {
    let payload = Bytes::from(vec![b'x'; frame_size.max(1)]);
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await.expect("connect to the echo server");
            let _ = stream.set_nodelay(true);
            let mut framed = Framed::new(stream, codec());
            let mut done = 0u64;
            while Instant::now() < deadline {
                for _ in 0..round_trips {
                    framed.send(payload.clone()).await.expect("echo send");
                    let back = tokio::time::timeout(Duration::from_secs(10), framed.next()).await;
                    assert!(matches!(back, Ok(Some(Ok(_)))), "echo answer");
                }
                done += 1;
            }
            done
        }));
    }
    let start = Instant::now();
    let mut total = 0u64;
    for t in tasks {
        total += t.await.expect("echo client");
    }
    total as f64 / start.elapsed().as_secs_f64()
}
