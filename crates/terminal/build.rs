//! Generates one `#[test]` per golden screen transcript in `fixtures/terminal/` (used by
//! `tests/golden.rs`). The library itself is not affected.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/terminal");
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".txt"))
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    let mut code = String::new();
    for n in &names {
        let ident: String = n
            .trim_end_matches(".txt")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let _ = writeln!(code, "#[test]\nfn golden_{ident}() {{ run_golden({n:?}); }}");
    }
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("golden_tests.rs");
    std::fs::write(out, code).expect("write generated golden tests");
}
