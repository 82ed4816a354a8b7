# ccv-emu developer recipes. CI does not need `just`: it runs `bash .ci/run`.

# Run every test (the README's test command).
test:
    cargo test --workspace

# Lints as CI runs them.
lint:
    cargo clippy --workspace --all-targets -- -D warnings
    bash .ci/invariants

# Format the tree.
fmt:
    cargo fmt --all

# Run a real fuzzing session on one target (see docs/FUZZING.md), e.g. `just fuzz opi_xml`.
fuzz TARGET SECONDS="300":
    bash fuzz/run.sh {{TARGET}} {{SECONDS}}

# Benchmarks (figures go to docs/BENCHMARKS.md).
bench:
    cargo bench --workspace

# Everything CI runs.
ci:
    bash .ci/run
