//! The dashboard in a real headless Chromium, driven over the DevTools protocol: a newcomer's clicks walk the day
//! close on the keypad, make a payment that reaches success, see its OPI messages arrive live, filter the fleet,
//! and run the migration tour to the end. Every control is a labelled button or input reachable by keyboard.
//! Screenshots of the terminal page and the fleet view go to `target/screenshots/` (with `UPDATE_SCREENSHOTS=1`
//! also to `docs/images/`, where the README shows them).
//!
//! Needs `chromium` on the PATH (`.ci/run` installs Debian's): under CI its absence fails the test, elsewhere the
//! test says it skips.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ccv_test_support::{Browser, Key, Page};

mod common;

const T: Duration = Duration::from_secs(20);

fn chromium() -> Option<PathBuf> {
    ccv_test_support::require_tool(&["chromium", "chromium-browser"], "chromium")
}

/// A sandbox with its links up, and a browser page; `None` when there is no Chromium (and not under CI).
struct World {
    _tmp: tempfile::TempDir,
    sandbox: ccv_sandbox::Sandbox,
    url: String,
    browser: Browser,
    page: Page,
}

async fn world() -> Option<World> {
    let chromium = chromium()?;
    let tmp = tempfile::tempdir().expect("tempdir");
    let sandbox = common::start(&tmp.path().join("state")).await;
    sandbox.settle_links(T).await;
    let url = sandbox.info().dashboard_url;
    let browser = Browser::launch(&chromium).await.expect("chromium starts");
    let page = browser.new_page().await.expect("a page");
    Some(World { _tmp: tmp, sandbox, url, browser, page })
}

/// Where a screenshot goes: the target directory, and `docs/images/` when asked.
async fn screenshot(page: &Page, name: &str) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    let path = dir.join(name);
    page.screenshot(&path).await.expect("a screenshot");
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/images");
        std::fs::create_dir_all(&docs).expect("docs/images");
        std::fs::copy(&path, docs.join(name)).expect("copy to docs/images");
    }
}

/// Clicks the keypad keys of `script` (`MENU 1 99999 OK`), one click per key.
async fn keypad(page: &Page, script: &str) {
    for token in script.split_whitespace() {
        let keys: Vec<String> = if token.chars().all(|c| c.is_ascii_digit()) {
            token.chars().map(|c| c.to_string()).collect()
        } else {
            vec![token.to_owned()]
        };
        for k in keys {
            // Each click's answer is the terminal after it; the next key waits for the page to show it.
            let before: String =
                page.eval("document.getElementById('lcd').innerText").await.expect("lcd").to_string();
            page.click(&format!("[data-key='{k}']")).await.unwrap_or_else(|e| panic!("click {k}: {e}"));
            let changed = format!(
                "document.getElementById('lcd').innerText !== {before} || document.getElementById('error').innerText !== ''"
            );
            // Some keys change nothing on the screen (a digit of a password shows as one more '*', which does change it).
            let _ = page.wait_for(&changed, Duration::from_secs(2)).await;
        }
    }
}

async fn lcd_shows(page: &Page, text: &str) {
    page.wait_for(&format!("document.getElementById('lcd').innerText.includes({text:?})"), T)
        .await
        .unwrap_or_else(|e| panic!("the display shows {text:?}: {e}"));
}

async fn open(page: &Page, url: &str, ready: &str) {
    page.goto(url).await.expect("the dashboard loads");
    wait_ready(page, url, ready).await;
}

/// Another view of the page already open (a link: no new page load).
async fn go(page: &Page, hash: &str, ready: &str) {
    page.eval(&format!("location.hash = {hash:?}; 1")).await.expect("navigate");
    wait_ready(page, hash, ready).await;
}

async fn wait_ready(page: &Page, url: &str, ready: &str) {
    page.wait_for(&format!("document.body.dataset.ready === 'true' && ({ready})"), T)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
}

/// Every button, input, select and link has a name a screen reader reads (text, `aria-label` or a `<label>`).
const UNNAMED: &str = r#"[...document.querySelectorAll('button, input, select, a')].filter(el => {
  const text = (el.innerText || '').trim() || (el.getAttribute('aria-label') || '').trim();
  const label = el.id && document.querySelector(`label[for="${el.id}"]`);
  return !text && !label;
}).map(el => el.outerHTML.slice(0, 80))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_closes_the_day_on_the_keypad_pays_and_watches_it_live() {
    let Some(World { _tmp, sandbox, url, browser, page }) = world().await else { return };

    // The terminal's page: the display as the device shows it, with its meaning in English.
    open(
        &page,
        &format!("{url}#/terminal/29000001"),
        "document.getElementById('lcd').innerText.includes('WELKOM')",
    )
    .await;
    let gloss = page.eval("document.getElementById('gloss').innerText").await.expect("gloss");
    assert!(gloss.as_str().is_some_and(|g| g.starts_with("means: idle")), "{gloss}");
    let unnamed = page.eval(UNNAMED).await.expect("controls");
    assert_eq!(unnamed, serde_json::json!([]), "every control has a name");

    // By keyboard: Tab reaches the START MENU key, Enter presses it.
    let mut reached = false;
    for _ in 0..40 {
        page.press_key(Key::Tab).await.expect("Tab");
        let key = page.eval("document.activeElement.dataset.key || ''").await.expect("focus");
        if key == "MENU" {
            reached = true;
            break;
        }
    }
    assert!(reached, "the keypad is reachable with Tab");
    page.press_key(Key::Enter).await.expect("Enter");
    lcd_shows(&page, "START MENU").await;
    keypad(&page, "STOP").await;
    lcd_shows(&page, "WELKOM").await;

    // R15: the day close, walked with clicks on the keypad.
    keypad(&page, "MENU 1 99999 OK").await;
    lcd_shows(&page, "MANAGER MENU").await;
    keypad(&page, "1 1 1").await;
    lcd_shows(&page, "DAGAFSLUITING?").await;
    keypad(&page, "OK").await;
    lcd_shows(&page, "DAG AFGESLOTEN").await;
    keypad(&page, "OK STOP STOP STOP STOP").await;
    lcd_shows(&page, "DAG GESLOTEN").await;
    page.wait_for("document.getElementById('fact-day').innerText.startsWith('closed by hand')", T)
        .await
        .expect("the day shows as closed by hand");
    let status = sandbox.terminal("29000001").expect("29000001").process.status();
    assert_eq!(status.settings.expect("settings").day, ccv_terminal::DayState::ClosedByHand);
    // R19: reopened by hand.
    keypad(&page, "MENU 1 99999 OK 1 1 2").await;
    lcd_shows(&page, "DAG GEOPEND").await;
    keypad(&page, "OK STOP STOP STOP STOP").await;
    lcd_shows(&page, "WELKOM").await;
    screenshot(&page, "dashboard-terminal.png").await;

    // A payment from the page reaches success; its OPI messages arrive on the page as they happen.
    page.click("#pay").await.expect("Pay");
    page.wait_for("(document.getElementById('pay-status') || {innerText: ''}).innerText === 'success'", T)
        .await
        .expect("the payment reaches success on the page");
    page.wait_for("document.getElementById('term-events').innerText.includes('CardServiceResponse')", T)
        .await
        .expect("the OPI messages appear live");
    let journal = page.eval("document.getElementById('journal').innerText").await.expect("journal");
    assert!(journal.as_str().is_some_and(|j| j.contains("net 12.50 EUR")), "{journal}");

    // The payment's page: status, receipts, and the OPI conversation with the card number masked.
    page.click("#pay-ref").await.expect("the payment's link");
    page.wait_for("!!document.getElementById('timeline')", T).await.expect("the OPI conversation");
    let text = page.eval("document.getElementById('main').innerText").await.expect("page text");
    let text = text.as_str().expect("text");
    assert!(text.contains("CardServiceRequest") && text.contains("Totaal: 12.50 EUR"), "{text}");
    for card in ccv_terminal::TestCard::ALL {
        assert!(!text.contains(card.pan()), "no full card number on the page: {}", card.pan());
    }

    // The fleet: every terminal with its migration and link state in words; a filter by state.
    go(&page, "#/fleet", "document.querySelectorAll('#fleet-rows tr').length === 8").await;
    let fleet = page.eval("document.getElementById('fleet-rows').innerText").await.expect("fleet");
    let fleet = fleet.as_str().expect("text");
    assert!(fleet.contains("MQTT down (dns)") && fleet.contains("TMS changed, not installed"), "{fleet}");
    page.eval("(() => { const f = document.getElementById('fleet-filter'); f.value = 'm:cloud_connect_1'; f.dispatchEvent(new Event('change')); return 1; })()")
        .await
        .expect("filter");
    page.wait_for("document.querySelectorAll('#fleet-rows tr').length === 2", T)
        .await
        .expect("two 1.0-only terminals");
    page.eval("(() => { const f = document.getElementById('fleet-filter'); f.value = ''; f.dispatchEvent(new Event('change')); return 1; })()")
        .await
        .expect("filter");
    page.wait_for("document.querySelectorAll('#fleet-rows tr').length === 8", T).await.expect("all again");
    screenshot(&page, "dashboard-fleet.png").await;

    let errors = page.console_errors().await.expect("console");
    assert!(errors.is_empty(), "no script errors: {errors:?}");
    drop(browser);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_migration_tour_runs_to_the_end_on_a_live_terminal() {
    let Some(World { _tmp, sandbox, url, browser, page }) = world().await else { return };
    open(&page, &format!("{url}#/tour/11300002"), "!!document.getElementById('tour-progress')").await;
    page.wait_for("document.getElementById('tour-progress').innerText.startsWith('0 of 8')", T)
        .await
        .expect("nothing done yet");
    for step in 1..=8 {
        page.click(&format!("#tour-run-{step}")).await.unwrap_or_else(|e| panic!("step {step}: {e}"));
        page.wait_for(&format!("document.getElementById('tour-check-{step}').classList.contains('pass')"), T)
            .await
            .unwrap_or_else(|e| panic!("step {step} is checked as done: {e}"));
    }
    page.wait_for("document.getElementById('tour-progress').innerText.startsWith('8 of 8')", T)
        .await
        .expect("the whole tour");
    // The terminal really is migrated and proven: 2.0, trigger port 0, the doctor content.
    let t = sandbox.terminal("11300002").expect("11300002");
    let status = t.process.status();
    assert_eq!(status.migration, Some(ccv_terminal::MigrationState::CloudConnect2));
    assert_eq!(status.settings.expect("settings").trigger_port, 0);
    assert!(t.doctor(sandbox.vpos()).await.ok, "every check passes after the tour");
    screenshot(&page, "dashboard-tour.png").await;
    let errors = page.console_errors().await.expect("console");
    assert!(errors.is_empty(), "no script errors: {errors:?}");
    drop(browser);
    sandbox.shutdown().await;
}
