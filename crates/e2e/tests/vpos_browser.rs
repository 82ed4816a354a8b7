//! The `payUrl` page of a Cloud Connect 1.0 payment in a real browser (R2, R4): headless Chromium opens it, the
//! page sends the local kick to the loopback terminal from JavaScript, and the payment succeeds. When the page
//! counts as public (as a page on the internet does), Local Network Access blocks the kick in the browser and the
//! payment fails with a message that names the cause.
//!
//! Needs `chromium` on the PATH (`.ci/run` installs Debian's): under CI its absence fails the test, elsewhere the
//! test says why it skips.

use std::sync::Arc;
use std::time::Duration;

use ccv_e2e::world::World;
use ccv_terminal_io::config::FileConfig;
use ccv_vpos::{PaymentStatus, Store, VposConfig, VposEvent};
use serde_json::json;

mod common;
use common::{T, fixture};

async fn pay(world: &World, port: u16) -> String {
    let body = json!({"amount": "7.50", "currency": "EUR", "method": "terminal",
        "details": {"terminalId": "11300002", "managementSystemId": "08900000002", "accessProtocol": "OPI_NL",
                    "ip": "127.0.0.1", "port": port}});
    let client = ccv_vpos::client::VposClient::new(world.base_url(), World::KEY);
    let (_, created) = client.create_payment(&body).await.expect("the API answers");
    assert_eq!(created["status"], "pending", "{created}");
    created["payUrl"].as_str().expect("payUrl").to_owned()
}

/// The final status event of the one payment under way.
async fn final_status(events: &mut tokio::sync::broadcast::Receiver<VposEvent>) -> PaymentStatus {
    loop {
        let event = tokio::time::timeout(T * 4, events.recv()).await.expect("a final status in time");
        if let VposEvent::Status { status, .. } = event.expect("events") {
            return status;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r02_r04_the_pay_url_page_kicks_the_terminal_from_the_browser_unless_the_page_is_public() {
    let Some(browser) = ccv_test_support::require_tool(&["chromium", "chromium-browser"], "chromium") else {
        return;
    };
    let config = VposConfig { browser_kick_timeout: Duration::from_secs(60), ..VposConfig::default() };
    let mut world =
        World::start(&["11300002"], Arc::new(Store::open_in_memory().expect("store")), config).await;
    let port = world
        .add_terminal(FileConfig::load(&fixture("cc1-only.toml")).expect("fixture"), "11300002")
        .await
        .kick_addr()
        .expect("kick listener")
        .port();
    let mut events = world.vpos.events();

    // The page on the shop's network: the browser kicks the terminal, the payment runs.
    let pay_url = pay(&world, port).await;
    let dom = ccv_test_support::chromium_dump_dom(&browser, &pay_url, &[], 20_000);
    let (dom, status) = tokio::join!(dom, final_status(&mut events));
    assert_eq!(status, PaymentStatus::Success, "{dom}");
    assert!(dom.contains("the terminal answered 202 (accepted)"), "{dom}");
    assert_eq!(world.terminals["11300002"].status().local_kicks, 1);

    // The same page served from a public address: Local Network Access stops the kick in the browser.
    let pay_url = pay(&world, port).await;
    let public =
        [format!("--ip-address-space-overrides=127.0.0.1:{}=public", world.server.api_addr().port())];
    let dom = ccv_test_support::chromium_dump_dom(&browser, &pay_url, &public, 20_000);
    let (dom, status) = tokio::join!(dom, final_status(&mut events));
    assert_eq!(status, PaymentStatus::Failed, "{dom}");
    assert!(dom.contains("could not be reached"), "{dom}");
    assert_eq!(world.terminals["11300002"].status().local_kicks, 1, "the second kick never arrived");
    let reference = pay_url.rsplit('=').next().expect("reference").to_owned();
    let failed = world.vpos.public_status(&reference).await.expect("stored");
    let message = failed.failure_message.expect("a message");
    assert!(message.contains("R4") && message.contains("could not reach terminal 11300002"), "{message}");
    world.shutdown().await;
}
