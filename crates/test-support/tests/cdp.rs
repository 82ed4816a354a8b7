//! The DevTools driver against a real headless Chromium and a page served on `127.0.0.1:0`. Under `CI` a missing
//! Chromium fails these tests; elsewhere they skip, saying so.

use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use ccv_test_support::{Browser, CdpError, Key, Page, require_tool};

const PAGE: &str = r#"<!doctype html>
<html><head><title>cdp test page</title></head>
<body>
  <button id="first" onclick="document.getElementById('out').textContent = 'first pressed'">First</button>
  <button id="second" onclick="document.getElementById('out').textContent = 'second pressed'">Second</button>
  <input id="name" aria-label="name">
  <button id="boom" onclick="throw new Error('boom from a click')">Boom</button>
  <p id="out"></p>
  <div id="cover-host" style="position: relative; height: 40px">
    <button id="hidden-under">Under</button>
    <div class="veil" style="position: absolute; inset: 0; background: white"></div>
  </div>
  <div style="height: 3000px"></div>
  <button id="far" onclick="document.getElementById('out').textContent = 'far pressed'">Far</button>
</body></html>"#;

const WAIT: Duration = Duration::from_secs(5);

fn chromium() -> Option<PathBuf> {
    require_tool(&["chromium", "chromium-browser"], "chromium")
}

/// Serves [`PAGE`] at `/` on a free loopback port; returns its address.
async fn serve_page() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
    let addr = listener.local_addr().expect("bound address");
    let app = Router::new().route("/", get(|| async { Html(PAGE) }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/")
}

/// A browser with the test page loaded, or `None` when Chromium is missing outside CI.
async fn open() -> Option<(Browser, Page)> {
    let chromium = chromium()?;
    let url = serve_page().await;
    let browser = Browser::launch(&chromium).await.expect("Chromium starts");
    let page = browser.new_page().await.expect("a new page");
    page.goto(&url).await.expect("the test page loads");
    Some((browser, page))
}

async fn out(page: &Page) -> String {
    page.eval("document.getElementById('out').textContent")
        .await
        .expect("eval")
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn goto_then_eval_reads_the_page() {
    let Some((_browser, page)) = open().await else { return };
    assert_eq!(page.eval("document.title").await.expect("eval"), "cdp test page");
    assert_eq!(page.eval("1 + 2").await.expect("eval"), 3);
    let awaited = page.eval("Promise.resolve({a: [1, 'x']})").await.expect("a promise is awaited");
    assert_eq!(awaited, serde_json::json!({"a": [1, "x"]}));
    assert_eq!(page.eval("undefined").await.expect("eval"), serde_json::Value::Null);
    assert_eq!(page.eval("[innerWidth, innerHeight]").await.expect("eval"), serde_json::json!([1280, 900]));
}

#[tokio::test]
async fn a_click_changes_the_dom_and_wait_for_sees_it() {
    let Some((_browser, page)) = open().await else { return };
    page.click("#second").await.expect("click");
    page.wait_for("document.getElementById('out').textContent === 'second pressed'", WAIT)
        .await
        .expect("wait");
    // Far below the fold: scrolled into view first.
    page.click("#far").await.expect("click below the fold");
    page.wait_for("document.getElementById('out').textContent === 'far pressed'", WAIT).await.expect("wait");
    assert!(page.eval("scrollY").await.expect("eval").as_f64().unwrap_or(0.0) > 0.0, "the page scrolled");
}

#[tokio::test]
async fn a_click_that_cannot_happen_names_the_selector() {
    let Some((_browser, page)) = open().await else { return };
    match page.click("#no-such-button").await {
        Err(CdpError::NoElement { selector }) => assert_eq!(selector, "#no-such-button"),
        other => panic!("expected NoElement, got {other:?}"),
    }
    match page.click("#hidden-under").await {
        Err(CdpError::Covered { selector, by }) => {
            assert_eq!(selector, "#hidden-under");
            assert_eq!(by, "div.veil");
        }
        other => panic!("expected Covered, got {other:?}"),
    }
    page.eval("document.getElementById('first').style.display = 'none'").await.expect("eval");
    let err = page.click("#first").await.expect_err("a hidden button cannot be clicked");
    assert!(matches!(err, CdpError::NotVisible { .. }), "{err}");
    assert!(err.to_string().contains("#first"), "{err}");
}

#[tokio::test]
async fn tab_moves_the_focus_and_enter_and_space_activate() {
    let Some((_browser, page)) = open().await else { return };
    page.eval("document.getElementById('first').focus()").await.expect("eval");
    page.press_key(Key::Tab).await.expect("Tab");
    page.wait_for("document.activeElement.id === 'second'", WAIT).await.expect("Tab reaches the next button");
    page.press_key(Key::Enter).await.expect("Enter");
    page.wait_for("document.getElementById('out').textContent === 'second pressed'", WAIT)
        .await
        .expect("activated");
    page.eval("document.getElementById('first').focus()").await.expect("eval");
    page.press_key(Key::Space).await.expect("Space");
    page.wait_for("document.getElementById('out').textContent === 'first pressed'", WAIT)
        .await
        .expect("activated");
    page.eval(
        "document.getElementById('name').addEventListener('keydown', e => { if (e.key === 'Escape') e.target.value = 'escaped' })",
    )
    .await
    .expect("eval");
    page.click("#name").await.expect("click the input");
    page.press_key(Key::Escape).await.expect("Escape");
    page.wait_for("document.getElementById('name').value === 'escaped'", WAIT).await.expect("Escape arrives");
}

#[tokio::test]
async fn type_text_fills_the_focused_input() {
    let Some((_browser, page)) = open().await else { return };
    page.click("#name").await.expect("click the input");
    page.type_text("Kassa 1 – café").await.expect("type");
    assert_eq!(page.eval("document.getElementById('name').value").await.expect("eval"), "Kassa 1 – café");
    assert_eq!(out(&page).await, "");
}

#[tokio::test]
async fn javascript_errors_are_reported_by_eval_and_by_console_errors() {
    let Some((_browser, page)) = open().await else { return };
    assert!(page.console_errors().await.expect("errors").is_empty(), "a clean page has none");
    match page.eval("throw new Error('thrown by eval')").await {
        Err(CdpError::Js { message }) => assert!(message.contains("thrown by eval"), "{message}"),
        other => panic!("expected Js, got {other:?}"),
    }
    match page.eval("Promise.reject(new TypeError('rejected'))").await {
        Err(CdpError::Js { message }) => assert!(message.contains("TypeError: rejected"), "{message}"),
        other => panic!("expected Js, got {other:?}"),
    }
    page.click("#boom").await.expect("click");
    page.eval("console.error('logged', 42)").await.expect("eval");
    page.eval("console.log('not an error')").await.expect("eval");
    let errors = page.console_errors().await.expect("errors");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("boom from a click"), "{errors:?}");
    assert_eq!(errors[1], "logged 42");
}

#[tokio::test]
async fn a_screenshot_is_a_png() {
    let Some((_browser, page)) = open().await else { return };
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("page.png");
    page.screenshot(&path).await.expect("screenshot");
    let png = std::fs::read(&path).expect("the screenshot is written");
    assert_eq!(png[..8], [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]);
    assert!(png.len() > 2_000, "a 1280x900 page with buttons is more than {} bytes", png.len());
    // The IHDR chunk comes first: width and height, big-endian, at bytes 16..24.
    let dimension = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    assert_eq!((dimension(16), dimension(20)), ccv_test_support::VIEWPORT);
}

#[tokio::test]
async fn wait_for_times_out_naming_the_condition() {
    let Some((_browser, page)) = open().await else { return };
    let condition = "document.getElementById('out').textContent === 'never'";
    let err =
        page.wait_for(condition, Duration::from_millis(300)).await.expect_err("the condition never holds");
    assert!(matches!(err, CdpError::WaitTimeout { .. }), "{err}");
    assert!(err.to_string().contains(condition), "{err}");
    // A condition that throws reports what it threw.
    let err = page.wait_for("document.querySelector('#late').checked", Duration::from_millis(300)).await;
    let err = err.expect_err("no #late element");
    assert!(err.to_string().contains("TypeError"), "{err}");
    // A condition that holds later is seen when it does.
    page.eval("setTimeout(() => document.body.append(Object.assign(document.createElement('i'), {id: 'late'})), 50)")
        .await
        .expect("eval");
    page.wait_for("document.getElementById('late') !== null", WAIT).await.expect("the element appears");
}

#[tokio::test]
async fn dropping_the_browser_ends_its_process() {
    let Some(chromium) = chromium() else { return };
    let browser = Browser::launch(&chromium).await.expect("Chromium starts");
    let page = browser.new_page().await.expect("a new page");
    page.goto("data:text/html,<p id=p>data page</p>").await.expect("a data: page loads");
    assert_eq!(page.eval("document.getElementById('p').textContent").await.expect("eval"), "data page");
    let pid = browser.pid();
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    assert!(proc_dir.exists(), "the browser runs as {pid}");
    let profile = browser.profile_dir().to_path_buf();
    assert!(profile.join("Default").is_dir(), "Chromium uses {}", profile.display());
    drop(browser);
    // Killed and reaped during the drop: not even a zombie is left.
    assert!(!proc_dir.exists(), "process {pid} is still there after the drop");
    assert!(!profile.exists(), "the profile {} is still there after the drop", profile.display());
    match page.eval("1").await {
        Err(CdpError::Closed) => {}
        other => panic!("a page of a dropped browser is closed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_failed_navigation_says_why() {
    let Some(chromium) = chromium() else { return };
    let browser = Browser::launch(&chromium).await.expect("Chromium starts");
    let page = browser.new_page().await.expect("a new page");
    // A port nothing listens on: bind one, then free it.
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a port").port();
    match page.goto(&format!("http://127.0.0.1:{port}/")).await {
        Err(CdpError::Navigate { error, .. }) => assert!(error.contains("ERR_CONNECTION_REFUSED"), "{error}"),
        other => panic!("expected Navigate, got {other:?}"),
    }
}
