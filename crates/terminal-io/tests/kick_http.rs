//! The local-kick HTTP layer on loopback, with a scripted decision instead of the terminal core: status codes,
//! CORS (preflight, Private Network Access, the old-firmware profile), limits and time-outs.

use std::net::SocketAddr;
use std::time::Duration;

use ccv_terminal_io::kick::{
    CorsProfile, KickAnswer, KickCall, KickHttpSettings, KickListener, KickRequestBody,
};
use ccv_terminal_io::kick_client::{KickClientError, send_kick, send_raw};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const T: Duration = Duration::from_secs(10);

/// Starts a listener whose "terminal" accepts kicks without a reference and refuses the others as busy.
async fn start(settings: KickHttpSettings) -> (SocketAddr, CancellationToken) {
    let listener = KickListener::bind("127.0.0.1:0".parse().unwrap(), settings).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = mpsc::channel::<Box<KickCall>>(8);
    let token = CancellationToken::new();
    tokio::spawn(listener.serve(tx, token.clone()));
    tokio::spawn(async move {
        while let Some(call) = rx.recv().await {
            let answer = match call.body.reference {
                Some(r) if r == "busy" => KickAnswer::Refused {
                    tms_id: "12345678".into(),
                    reason: ccv_wire::KickRefusal::Busy,
                    message: "the terminal is busy".into(),
                },
                reference => KickAnswer::Accepted {
                    tms_id: "12345678".into(),
                    reference,
                    tas: call
                        .body
                        .tas
                        .map_or("TAS.JFORCE.BE:5555".into(), |t| format!("{}:{}", t.host, t.port)),
                },
            };
            let _ = call.reply.send(answer);
        }
    });
    (addr, token)
}

/// Sends raw bytes and reads the whole answer (the server closes after one request).
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(T, s.read_to_end(&mut out)).await.expect("answer in time").unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn accepted_and_refused_kicks() {
    let (addr, _t) = start(KickHttpSettings::default()).await;
    let ok = send_kick(addr, &KickRequestBody { reference: Some("r1".into()), tas: None }, T).await.unwrap();
    assert_eq!(ok.status, 202);
    assert_eq!(ok.body["status"], "accepted");
    assert_eq!(ok.body["reference"], "r1");
    assert_eq!(ok.body["tas"], "TAS.JFORCE.BE:5555");
    let busy =
        send_kick(addr, &KickRequestBody { reference: Some("busy".into()), tas: None }, T).await.unwrap();
    assert_eq!(busy.status, 409);
    assert_eq!(busy.body["status"], "refused");
    assert_eq!(busy.body["reason"], "busy");
    // An empty body is a kick without fields.
    let empty = send_raw(addr, "POST", "/kick", Vec::new(), T).await.unwrap();
    assert_eq!(empty.status, 202);
    assert!(empty.body.get("reference").is_none());
}

#[tokio::test]
async fn bad_input_gets_clear_errors() {
    let (addr, _t) = start(KickHttpSettings::default()).await;
    let r = send_raw(addr, "POST", "/kick", b"{not json".to_vec(), T).await.unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "malformed_json");
    assert!(r.body["message"].as_str().unwrap().contains("expected"));
    let r = send_raw(addr, "POST", "/kick", br#"{"referense":"x"}"#.to_vec(), T).await.unwrap();
    assert_eq!(r.status, 400, "unknown fields are refused");
    let r = send_raw(addr, "POST", "/kick", br#"{"tas":{"host":"","port":5555}}"#.to_vec(), T).await.unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "bad_tas");
    let r = send_raw(addr, "GET", "/kick", Vec::new(), T).await.unwrap();
    assert_eq!(r.status, 405);
    let r = send_raw(addr, "POST", "/elsewhere", Vec::new(), T).await.unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "not_found");
    let big = vec![b' '; 5000];
    let r = send_raw(addr, "POST", "/kick", big, T).await.unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.body["error"], "body_too_large");
    // Chunked, so no Content-Length to check up front: the limit applies while reading.
    let chunk = "a".repeat(3000);
    let req = format!(
        "POST /kick HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{len:x}\r\n{chunk}\r\n{len:x}\r\n{chunk}\r\n0\r\n\r\n",
        len = chunk.len()
    );
    let answer = raw(addr, req.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test]
async fn slow_clients_are_timed_out() {
    let settings = KickHttpSettings {
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        ..KickHttpSettings::default()
    };
    let (addr, _t) = start(settings).await;
    // Headers never finish: the connection is closed without an answer.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /kick HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut out = Vec::new();
    let n = tokio::time::timeout(T, s.read_to_end(&mut out)).await.expect("closed in time");
    assert!(
        n.is_err() || out.is_empty() || String::from_utf8_lossy(&out).contains("408"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    // The body never arrives: 408.
    let answer = raw(addr, b"POST /kick HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n{\"ref").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"));
}

#[tokio::test]
async fn cors_preflight_and_private_network_access() {
    let (addr, _t) = start(KickHttpSettings::default()).await;
    let answer = raw(
        addr,
        b"OPTIONS /kick HTTP/1.1\r\nHost: x\r\nOrigin: https://pay.example\r\nAccess-Control-Request-Method: POST\r\n\
Access-Control-Request-Headers: content-type\r\nAccess-Control-Request-Private-Network: true\r\n\r\n",
    )
    .await
    .to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 204"), "{answer}");
    assert!(answer.contains("access-control-allow-origin: https://pay.example"), "{answer}");
    assert!(answer.contains("access-control-allow-methods: post, options"), "{answer}");
    assert!(answer.contains("access-control-allow-headers: content-type"), "{answer}");
    assert!(answer.contains("access-control-allow-private-network: true"), "{answer}");
    // The actual POST from a page carries the origin back too.
    let answer = raw(
        addr,
        b"POST /kick HTTP/1.1\r\nHost: x\r\nOrigin: https://pay.example\r\nContent-Length: 2\r\n\r\n{}",
    )
    .await
    .to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 202"), "{answer}");
    assert!(answer.contains("access-control-allow-origin: https://pay.example"));
    assert!(!answer.contains("private-network"), "only echoed when asked");
}

#[tokio::test]
async fn old_firmware_sends_no_cors_headers() {
    let settings = KickHttpSettings { cors: CorsProfile::OldFirmwareNoCors, ..KickHttpSettings::default() };
    let (addr, _t) = start(settings).await;
    let pre = raw(
        addr,
        b"OPTIONS /kick HTTP/1.1\r\nHost: x\r\nOrigin: https://pay.example\r\nAccess-Control-Request-Method: POST\r\n\
Access-Control-Request-Private-Network: true\r\n\r\n",
    )
    .await
    .to_ascii_lowercase();
    assert!(pre.starts_with("http/1.1 405"), "{pre}");
    assert!(!pre.contains("access-control"), "{pre}");
    let post = raw(
        addr,
        b"POST /kick HTTP/1.1\r\nHost: x\r\nOrigin: https://pay.example\r\nContent-Length: 0\r\n\r\n",
    )
    .await
    .to_ascii_lowercase();
    assert!(post.starts_with("http/1.1 202"), "the kick itself works without a browser: {post}");
    assert!(!post.contains("access-control"), "{post}");
}

#[tokio::test]
async fn nothing_listens_after_shutdown() {
    let (addr, token) = start(KickHttpSettings::default()).await;
    token.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = send_kick(addr, &KickRequestBody::default(), T).await.unwrap_err();
    assert!(matches!(err, KickClientError::Connect { .. }), "{err}");
}
