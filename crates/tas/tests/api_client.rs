//! The TAS API client (`ccv_tas::client::call_json`) against peers that misbehave on loopback: refused
//! connections, silence, answers that are not JSON or too large, and URLs it does not speak.

use std::net::SocketAddr;
use std::time::Duration;

use ccv_tas::client::{ClientError, Method, StatusCode, call_json};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const T: Duration = Duration::from_secs(10);

/// A peer that answers every connection with `answer` (after reading the request's first bytes), or holds it
/// open without a word when `answer` is `None`.
async fn peer(answer: Option<Vec<u8>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut s, _)) = listener.accept().await {
            match &answer {
                Some(answer) => {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let _ = s.write_all(answer).await;
                }
                None => held.push(s),
            }
        }
    });
    addr
}

fn http_answer(content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

#[tokio::test]
async fn a_json_answer_comes_back_with_its_status() {
    let addr = peer(Some(http_answer("application/json", br#"{"ok":true}"#))).await;
    for base in [format!("http://{addr}"), format!("http://{addr}/"), addr.to_string()] {
        let (status, body) = call_json(&base, Method::POST, "/x", Some(&json!({"a": 1})), T).await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"ok": true}));
    }
}

#[tokio::test]
async fn urls_it_does_not_speak_are_refused_up_front() {
    for bad in ["https://127.0.0.1:1", "not a url", "/just/a/path"] {
        let err = call_json(bad, Method::GET, "/", None, T).await.unwrap_err();
        assert!(matches!(err, ClientError::BadUrl(_)), "{bad}: {err}");
    }
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = probe.local_addr().unwrap();
    drop(probe);
    let err = call_json(&format!("http://{dead}"), Method::GET, "/", None, T).await.unwrap_err();
    match err {
        ClientError::Connect { addr, source } => {
            assert_eq!(addr, dead.to_string());
            assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn a_silent_peer_is_a_timeout() {
    let addr = peer(None).await;
    let timeout = Duration::from_millis(300);
    let err = call_json(&format!("http://{addr}"), Method::GET, "/", None, timeout).await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout { timeout: t, .. } if t == timeout), "{err}");
}

#[tokio::test]
async fn an_answer_that_is_not_json_says_so() {
    let addr = peer(Some(http_answer("text/plain", b"hello"))).await;
    let err = call_json(&format!("http://{addr}"), Method::GET, "/", None, T).await.unwrap_err();
    assert!(matches!(err, ClientError::NotJson { status: 200, .. }), "{err}");
}

#[tokio::test]
async fn answers_over_one_mib_are_refused() {
    let mut big = b"\"".to_vec();
    big.resize((1 << 20) + 10, b'x');
    big.push(b'"');
    let addr = peer(Some(http_answer("application/json", &big))).await;
    let err = call_json(&format!("http://{addr}"), Method::GET, "/", None, T).await.unwrap_err();
    assert!(matches!(err, ClientError::Http { .. }), "{err}");
}

#[tokio::test]
async fn a_connection_closed_after_the_request_leaves_the_outcome_unknown() {
    // The peer reads the request and closes without a word, as a TAS that dies mid-payment does.
    let addr = peer(Some(Vec::new())).await;
    let err =
        call_json(&format!("http://{addr}"), Method::POST, "/x", Some(&json!({})), T).await.unwrap_err();
    assert!(matches!(err, ClientError::Interrupted { .. }), "{err}");
    assert!(err.outcome_unknown(), "{err}");
    assert!(err.to_string().contains("unknown"), "{err}");
    // Nothing listening: nothing was sent, so nothing happened.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = probe.local_addr().unwrap();
    drop(probe);
    let err = call_json(&format!("http://{dead}"), Method::POST, "/x", None, T).await.unwrap_err();
    assert!(!err.outcome_unknown(), "{err}");
}
