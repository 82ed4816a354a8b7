//! The control API's OpenAPI description: the checked-in `docs/control-openapi.json` is what the code generates
//! and names every route. Regenerate it with `UPDATE_OPENAPI=1 cargo test -p ccv-sandbox --test openapi`.

use std::path::PathBuf;

use serde_json::Value;

#[test]
fn checked_in_document_is_current_and_names_every_route() {
    let generated = ccv_sandbox::control::openapi_json();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/control-openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some_and(|v| !v.is_empty() && v != "0") {
        std::fs::write(&path, &generated).expect("docs/control-openapi.json is writable");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/control-openapi.json is not what the code generates; regenerate it with \
         `UPDATE_OPENAPI=1 cargo test -p ccv-sandbox --test openapi`"
    );
    let doc: Value = serde_json::from_str(&generated).expect("JSON");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')));
    let paths = doc["paths"].as_object().expect("paths");
    for route in [
        "/sandbox",
        "/terminals",
        "/terminals/{tms_id}",
        "/terminals/{tms_id}/keys",
        "/terminals/{tms_id}/card",
        "/terminals/{tms_id}/tms",
        "/terminals/{tms_id}/tms/contact",
        "/terminals/{tms_id}/power",
        "/terminals/{tms_id}/faults",
        "/terminals/{tms_id}/doctor",
        "/events",
    ] {
        assert!(paths.contains_key(route), "{route} is described");
    }
}
