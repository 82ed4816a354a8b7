//! The TAS link over mutual TLS, end to end on loopback: a terminal process proves its TMS ID with its
//! certificate, and nobody else can take its place at the TAS (issue: a local client sending a Login with a
//! connected terminal's TMS ID used to replace it and answer its next payment).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use ccv_iot::{Pki, PkiOptions};
use ccv_opi::{Message, OverallResult};
use ccv_tas::{Outcome, Tas, TasConfig, TasTls};
use ccv_terminal_io::config::FileConfig;
use ccv_terminal_io::kick_client::send_kick;
use ccv_terminal_io::{Credentials, TerminalProcess};
use ccv_wire::handshake;
use ccv_wire::local_kick::KickRequestBody;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

mod common;

use common::{T, prepare};

const TERMINAL: &str = "11300001";
const OTHER: &str = "11300002";

fn pki() -> Pki {
    Pki::generate(&PkiOptions { terminals: vec![TERMINAL.into(), OTHER.into()], ..PkiOptions::default() })
        .expect("PKI")
}

async fn tls_tas(pki: &Pki) -> Tas {
    let tls = TasTls::from_pem(&pki.ca.cert_pem, &pki.tas.cert_pem, &pki.tas.key_pem).expect("TAS TLS");
    let config = TasConfig { tls: Some(tls), ..TasConfig::default() };
    Tas::start(SocketAddr::from(([127, 0, 0, 1], 0)), None, config).await.expect("TAS starts")
}

fn credentials(pki: &Pki, tms_id: &str) -> Credentials {
    let pair = pki.terminal(tms_id).expect("terminal certificate");
    Credentials {
        ca_pem: pki.ca.cert_pem.clone(),
        cert_pem: pair.cert_pem.clone(),
        key_pem: pair.key_pem.clone(),
    }
}

/// A terminal process dialling `tas` over mutual TLS (by name: the TAS's certificate names `localhost`).
async fn terminal(tas: &Tas, credentials: Credentials) -> TerminalProcess {
    let mut config = prepare(FileConfig::default(), Some(TERMINAL), tas.terminal_addr());
    let at = ccv_wire::HostPort::new("localhost", tas.terminal_addr().port());
    config.terminal.tms.tas = at.clone();
    config.terminal.installed.tas = at;
    config.io.tas_tls = true;
    TerminalProcess::start_with_credentials(config, 1, credentials).await.expect("terminal starts")
}

async fn kick(term: &TerminalProcess) {
    let body = KickRequestBody { reference: None, tas: None };
    let reply = send_kick(term.kick_addr().expect("kick listener"), &body, T).await.expect("kick answered");
    assert_eq!(reply.status, 202, "{}", reply.body);
}

type Opi<S> = Framed<S, LengthDelimitedCodec>;

fn opi<S: AsyncRead + AsyncWrite>(stream: S) -> Opi<S> {
    Framed::new(stream, LengthDelimitedCodec::builder().length_field_length(4).new_codec())
}

/// A TLS client of the TAS port presenting `cert`/`key` (chained to `ca_pem`).
async fn tls_client(
    tas: &Tas,
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let config = ccv_tls::client_config(ca_pem, cert_pem, key_pem, None, false).expect("client config");
    let tcp = TcpStream::connect(tas.terminal_addr()).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let connect = tokio_rustls::TlsConnector::from(Arc::clone(&config)).connect(name, tcp);
    timeout(T, connect).await.expect("TLS hand-shake in time")
}

/// Sends the hand-shake for `tms_id` and reads the answer; `None` when the TAS closed instead.
async fn hello<S: AsyncRead + AsyncWrite + Unpin>(conn: &mut Opi<S>, tms_id: &str) -> Option<OverallResult> {
    let frame =
        Bytes::from(ccv_opi::encode(&handshake::hello_message(tms_id, None, None), ccv_opi::Encoding::Utf8));
    conn.send(frame).await.ok()?;
    match timeout(T, conn.next()).await.expect("an answer or a close in time") {
        Some(Ok(frame)) => match ccv_opi::decode(&frame).expect("decodable answer") {
            Message::ServiceResponse(r) => Some(r.overall_result),
            other => panic!("unexpected answer {other:?}"),
        },
        _ => None,
    }
}

/// Whether the peer closes `stream` within `T` (end of stream or an error) without sending anything.
async fn closed<S: AsyncRead + Unpin>(stream: &mut S) -> bool {
    let mut buf = [0u8; 1];
    matches!(timeout(T, stream.read(&mut buf)).await, Ok(Ok(0) | Err(_)))
}

fn unidentified_reasons(tas: &Tas) -> Vec<String> {
    tas.transcript(None, 0).into_iter().filter(|e| e.tms_id.is_none()).filter_map(|e| e.note).collect()
}

#[tokio::test]
async fn a_terminal_proves_its_tms_id_and_no_impostor_takes_its_place_at_the_tas() {
    let pki = pki();
    let tas = tls_tas(&pki).await;
    let term = terminal(&tas, credentials(&pki, TERMINAL)).await;
    kick(&term).await;
    let info = tas.wait_connected(TERMINAL, T).await.expect("the terminal connects over mutual TLS");
    assert!(info.certified, "{info:?}");
    let peer = info.peer.clone();

    // 1. Plain TCP on the TLS port, a Login with the terminal's TMS ID: no TLS, no answer, closed.
    let mut plain = opi(TcpStream::connect(tas.terminal_addr()).await.unwrap());
    assert_eq!(hello(&mut plain, TERMINAL).await, None, "plain TCP gets no hand-shake answer");

    // 2. Another terminal's valid certificate, claiming this terminal's TMS ID: refused after TLS.
    let other = pki.terminal(OTHER).unwrap();
    let stream = tls_client(&tas, &pki.ca.cert_pem, &other.cert_pem, &other.key_pem).await.unwrap();
    let mut impostor = opi(stream);
    assert_eq!(hello(&mut impostor, TERMINAL).await, Some(OverallResult::ValidationError));
    assert!(closed(impostor.get_mut()).await);

    // 3. The payment API's certificate (same CA, not a terminal's) and one from another CA: refused.
    let vpos = tls_client(&tas, &pki.ca.cert_pem, &pki.vpos.cert_pem, &pki.vpos.key_pem).await.unwrap();
    let mut vpos = opi(vpos);
    assert_eq!(hello(&mut vpos, TERMINAL).await, None, "a payment-API certificate is no terminal's");
    let foreign = pki_other_ca();
    let pair = foreign.terminal(TERMINAL).unwrap();
    match tls_client(&tas, &pki.ca.cert_pem, &pair.cert_pem, &pair.key_pem).await {
        Err(_) => {}
        Ok(stream) => assert!(closed(&mut opi(stream).into_inner()).await, "a foreign CA's certificate"),
    }

    // Each left one short entry saying why, and the terminal kept its place.
    let reasons = unidentified_reasons(&tas);
    for expected in
        ["TLS hand-shake failed", "client certificate is terminal \"11300002\"'s", "is not a terminal's"]
    {
        assert!(reasons.iter().any(|r| r.contains(expected)), "{expected:?} not in {reasons:#?}");
    }
    let now = tas.terminals();
    assert_eq!(now.len(), 1, "{now:?}");
    assert_eq!(now[0].peer, peer, "the terminal's own connection is still the one listed");

    // The next payment reaches the real terminal and is answered by it.
    let paid = timeout(T, tas.pay(TERMINAL, 1250)).await.unwrap().unwrap();
    assert_eq!(paid.outcome, Outcome::Completed, "{paid:?}");
    assert_eq!(paid.overall_result.as_deref(), Some("Success"), "{paid:?}");
    assert_eq!(term.status().journal.len(), 1, "the payment is in the real terminal's journal");
    term.shutdown().await;
    tas.shutdown().await;
}

fn pki_other_ca() -> Pki {
    Pki::generate(&PkiOptions { terminals: vec![TERMINAL.into()], ..PkiOptions::default() }).expect("PKI")
}

#[tokio::test]
async fn a_certified_reconnection_replaces_an_idle_connection_but_never_a_busy_one() {
    let pki = pki();
    let tas = tls_tas(&pki).await;
    let own = pki.terminal(TERMINAL).unwrap();
    let connect = || tls_client(&tas, &pki.ca.cert_pem, &own.cert_pem, &own.key_pem);

    let mut first = opi(connect().await.unwrap());
    assert_eq!(hello(&mut first, TERMINAL).await, Some(OverallResult::Success));
    let first_peer = tas.wait_connected(TERMINAL, T).await.unwrap().peer;

    // A payment runs on the first connection: a second one of the same terminal is refused.
    let mut payment = Box::pin(tas.pay(TERMINAL, 100));
    let request = tokio::select! {
        _ = &mut payment => panic!("the payment ended before the terminal saw it"),
        frame = timeout(T, first.next()) => frame.expect("the payment request in time"),
    };
    let request = match ccv_opi::decode(&request.expect("open").expect("a frame")).expect("decodable") {
        Message::CardServiceRequest(r) => r,
        other => panic!("expected the payment request, got {other:?}"),
    };
    let mut second = opi(connect().await.unwrap());
    let refused = tokio::select! {
        _ = &mut payment => panic!("the payment ended"),
        answer = hello(&mut second, TERMINAL) => answer,
    };
    assert_eq!(refused, Some(OverallResult::ValidationError), "not while a request runs");
    assert_eq!(tas.terminals()[0].peer, first_peer);

    // The first connection answers (declined), so it is idle; the terminal's new certified connection then
    // takes its place, and the old one is closed with the reason in the transcript.
    let declined = Message::CardServiceResponse(ccv_opi::CardServiceResponse {
        header: request.header.clone(),
        request_type: request.request_type,
        overall_result: OverallResult::Failure,
        terminal: None,
        tender: None,
        card_value: None,
        private_data: None,
    });
    first.send(Bytes::from(ccv_opi::encode(&declined, ccv_opi::Encoding::Utf8))).await.unwrap();
    let paid = timeout(T, payment).await.expect("the payment ends").expect("a result");
    assert_eq!(paid.overall_result.as_deref(), Some("Failure"), "{paid:?}");
    let mut third = opi(connect().await.unwrap());
    assert_eq!(hello(&mut third, TERMINAL).await, Some(OverallResult::Success));
    assert!(closed(first.get_mut()).await, "the old connection is closed");
    let listed = tas.terminals();
    assert_eq!(listed.len(), 1);
    assert_ne!(listed[0].peer, first_peer, "the new connection is the one listed");
    let replaced = format!("replaced by a newer connection of the same terminal from {}", listed[0].peer);
    let notes: Vec<String> = tas.transcript(Some(TERMINAL), 0).into_iter().filter_map(|e| e.note).collect();
    assert!(notes.iter().any(|n| n.contains(&replaced)), "{notes:#?}");
    drop((first, second, third));
    tas.shutdown().await;
}

#[tokio::test]
async fn a_terminal_that_cannot_verify_the_tas_fails_its_dial_with_tls() {
    let pki = pki();
    // The TAS's certificate is from another PKI: the terminal does not trust it.
    let tas = tls_tas(&pki_other_ca()).await;
    let term = terminal(&tas, credentials(&pki, TERMINAL)).await;
    kick(&term).await;
    term.wait_for_status(T, |s| s.last_dial_failure.as_deref() == Some("tls"))
        .await
        .expect("the dial fails with tls");
    assert!(tas.terminals().is_empty());
    term.shutdown().await;

    // A terminal with `tas_tls` and no certificate does not start, and says what to set.
    let mut config = prepare(FileConfig::default(), Some(TERMINAL), tas.terminal_addr());
    config.io.tas_tls = true;
    let err = TerminalProcess::start(config, 1).await.expect_err("no certificate");
    assert!(err.to_string().contains("mqtt_pki"), "{err}");
    tas.shutdown().await;
}

#[tokio::test]
async fn an_expired_or_not_yet_valid_terminal_certificate_is_refused_at_the_tas() {
    use std::time::{Duration, SystemTime};
    let pki = pki();
    let tas = tls_tas(&pki).await;
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let expired = pki.issue_with_validity(TERMINAL, "terminal", &[], now - 30 * day, now - day).unwrap();
    let early = pki.issue_with_validity(TERMINAL, "terminal", &[], now + day, now + 30 * day).unwrap();
    for pair in [&expired, &early] {
        // TLS 1.3: the client may finish its side before the TAS's verdict arrives; the TAS then closes.
        if let Ok(stream) = tls_client(&tas, &pki.ca.cert_pem, &pair.cert_pem, &pair.key_pem).await {
            let mut conn = opi(stream);
            assert_eq!(hello(&mut conn, TERMINAL).await, None, "no hand-shake answer");
        }
    }
    let reasons = unidentified_reasons(&tas);
    assert!(reasons.iter().any(|r| r.contains("expired")), "{reasons:#?}");
    assert!(reasons.iter().any(|r| r.contains("not valid yet")), "{reasons:#?}");
    assert!(tas.terminals().is_empty());
    // The terminal's valid certificate still gets in.
    let own = pki.terminal(TERMINAL).unwrap();
    let mut conn = opi(tls_client(&tas, &pki.ca.cert_pem, &own.cert_pem, &own.key_pem).await.unwrap());
    assert_eq!(hello(&mut conn, TERMINAL).await, Some(OverallResult::Success));
    drop(conn);
    tas.shutdown().await;
}
