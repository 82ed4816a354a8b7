//! R4 with a real browser: headless Chromium opens a payment page on loopback that sends the local kick with
//! `fetch`. A current terminal (CORS) is kicked; old firmware without CORS is not; and when the page counts as
//! "public" (Local Network Access), the fetch fails and the terminal sees no request at all.
//!
//! Needs a `chromium` binary on the PATH (`.ci/run` installs Debian's): under CI its absence fails the test,
//! elsewhere the test says why it skips.

use std::net::SocketAddr;
use std::path::Path;

use ccv_terminal_io::TerminalProcess;
use ccv_terminal_io::config::FileConfig;
use ccv_terminal_io::kick::CorsProfile;

/// A terminal whose TAS is a closed port: an accepted kick shows up as dial attempts.
async fn terminal(cors: CorsProfile) -> TerminalProcess {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = probe.local_addr().unwrap();
    drop(probe);
    let mut c = FileConfig::default();
    let target = ccv_terminal::HostPort::new("127.0.0.1", dead.port());
    c.terminal.tms.tas = target.clone();
    c.terminal.installed.tas = target;
    c.io.kick_bind = "127.0.0.1".parse().unwrap();
    c.io.kick_port_override = Some(0);
    c.io.cors = cors;
    TerminalProcess::start(c, 1).await.unwrap()
}

/// Serves one HTML page whose script kicks `kick` and writes the outcome into the DOM.
async fn page_server(kick: SocketAddr) -> SocketAddr {
    let html = format!(
        r#"<!doctype html><html><body><pre id="out">pending</pre><script>
fetch("http://{kick}/kick", {{method: "POST", headers: {{"content-type": "application/json"}}, body: JSON.stringify({{reference: "browser-1"}})}})
  .then(r => r.json().then(j => {{ document.getElementById("out").textContent = "RESULT " + r.status + " " + j.status; }}))
  .catch(e => {{ document.getElementById("out").textContent = "RESULT error " + e; }});
</script></body></html>"#
    );
    let app =
        axum::Router::new().route("/", axum::routing::get(move || async move { axum::response::Html(html) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// Loads the page in headless Chromium and returns the `RESULT ...` line from the DOM.
async fn load(browser: &Path, page: SocketAddr, extra: &[String]) -> String {
    let dom = ccv_test_support::chromium_dump_dom(browser, &format!("http://{page}/"), extra, 10_000).await;
    dom.lines()
        .find_map(|l| l.find("RESULT").map(|i| l[i..].to_owned()))
        .unwrap_or_else(|| format!("no result in {dom:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r04_a_browser_kicks_a_cors_terminal_but_not_old_firmware_nor_from_a_public_page() {
    let Some(browser) = ccv_test_support::require_tool(&["chromium", "chromium-browser"], "chromium") else {
        return;
    };

    // Current firmware: preflight answered, kick accepted.
    let term = terminal(CorsProfile::Modern).await;
    let page = page_server(term.kick_addr().unwrap()).await;
    let result = load(&browser, page, &[]).await;
    assert!(result.starts_with("RESULT 202 accepted"), "{result}");
    assert_eq!(term.status().local_kicks, 1, "the browser's kick arrived");
    term.shutdown().await;

    // Old firmware without CORS: the preflight fails, no kick arrives.
    let term = terminal(CorsProfile::OldFirmwareNoCors).await;
    let page = page_server(term.kick_addr().unwrap()).await;
    let result = load(&browser, page, &[]).await;
    assert!(result.starts_with("RESULT error"), "{result}");
    // A kick is counted before it is answered, and the page shows its result only after any answer: no wait.
    assert_eq!(term.status().local_kicks, 0, "the terminal was not kicked");
    term.shutdown().await;

    // The page counts as public (as a payment page on the internet does): Local Network Access blocks the fetch
    // before it leaves the browser, even though the terminal would answer CORS correctly.
    let term = terminal(CorsProfile::Modern).await;
    let page = page_server(term.kick_addr().unwrap()).await;
    let overrides = format!("--ip-address-space-overrides=127.0.0.1:{}=public", page.port());
    let result = load(&browser, page, &[overrides]).await;
    assert!(result.starts_with("RESULT error"), "{result}");
    assert_eq!(term.status().local_kicks, 0, "the terminal saw no kick");
    term.shutdown().await;
}
