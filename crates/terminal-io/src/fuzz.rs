//! Fuzz target bodies for what the terminal's IO shell reads from outside, as plain functions: the cargo-fuzz
//! targets in `fuzz/` call them, and tests run them over seeds and arbitrary input.
//!
//! - [`config`]: the terminal's configuration file.
//! - [`kick_request`]: bytes on a connection to the local-kick listener, through the listener's own HTTP stack
//!   (hyper, its limits and time-outs, CORS and origin rules, the JSON body); the client's side closes after
//!   its bytes, so a request cut short ends at once, and the time-outs are short.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::config::FileConfig;
use crate::kick::{CorsProfile, KickAnswer, KickCall, KickHttpSettings};

/// Any bytes sent to the kick listener on one connection (the first byte picks the CORS profile and whether a
/// TAS override is allowed): no panic; the answer is one HTTP/1.1 (or, to an HTTP/1.0 request, 1.0) response with a status the listener gives; the
/// terminal hears of a kick only when the answer is 202, and never of one naming a TAS unless that is allowed.
/// Returns the answer's status, if there was one.
pub fn kick_request(data: &[u8]) -> Option<u16> {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a current-thread runtime")
    });
    let (mode, request) = data.split_first().unwrap_or((&0, &[]));
    let settings = KickHttpSettings {
        cors: if mode & 1 == 0 { CorsProfile::Modern } else { CorsProfile::OldFirmwareNoCors },
        allow_tas_override: mode & 2 != 0,
        header_timeout: Duration::from_millis(200),
        body_timeout: Duration::from_millis(200),
        connection_timeout: Duration::from_secs(1),
        decide_timeout: Duration::from_millis(200),
        ..KickHttpSettings::default()
    };
    let allow_tas = settings.allow_tas_override;
    let request = request.to_vec();
    runtime.block_on(async move {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let (calls_tx, mut calls_rx) = tokio::sync::mpsc::channel::<Box<KickCall>>(4);
        let peer = "192.0.2.10:50000".parse().expect("an address");
        let served = tokio::spawn(crate::kick::serve_one(server, peer, settings, calls_tx));
        // The terminal's task: accepts whatever reaches it, and says what it saw.
        let terminal = tokio::spawn(async move {
            let mut kicks = Vec::new();
            while let Some(call) = calls_rx.recv().await {
                kicks.push(call.body.clone());
                let answer = KickAnswer::Accepted {
                    tms_id: "1".into(),
                    reference: call.body.reference,
                    tas: "h:1".into(),
                };
                let _ = call.reply.send(answer);
            }
            kicks
        });
        let _ = client.write_all(&request).await;
        let _ = client.shutdown().await;
        let mut answer = Vec::new();
        // The listener's own time-outs end every connection; this bound is only a guard.
        let _ = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut answer)).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), served).await;
        let kicks = terminal.await.unwrap_or_default();
        // An HTTP/1.0 request is answered in HTTP/1.0.
        let status = std::str::from_utf8(answer.get(..12).unwrap_or(&[]))
            .ok()
            .and_then(|head| head.strip_prefix("HTTP/1.1 ").or_else(|| head.strip_prefix("HTTP/1.0 ")))
            .and_then(|code| code.parse::<u16>().ok());
        if let Some(code) = status {
            assert!((200..600).contains(&code), "status {code}");
            assert!(kicks.len() <= 1, "one request per connection: {} kicks", kicks.len());
            if code != 202 {
                assert!(
                    kicks.is_empty() || code >= 500,
                    "answered {code} after the terminal accepted a kick"
                );
            }
        } else {
            assert!(answer.is_empty(), "not an HTTP answer: {:?}", String::from_utf8_lossy(&answer));
        }
        if !allow_tas {
            assert!(kicks.iter().all(|k| k.tas.is_none()), "a kick naming a TAS reached the terminal");
        }
        status
    })
}

/// Any bytes as a terminal config (TOML): no panic; what parses writes back as TOML that parses to the same config.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match FileConfig::from_toml(text, Path::new("fuzz input")) {
        Ok(config) => {
            let written = toml::to_string(&config).expect("a config writes as TOML");
            let again =
                FileConfig::from_toml(&written, Path::new("written")).expect("a written config parses");
            assert_eq!(again, config, "the config changed in a round trip");
            let _ = config.kick_addr();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
