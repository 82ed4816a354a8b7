#!/usr/bin/env bash
# Runs one cargo-fuzz target for a number of seconds: `bash fuzz/run.sh TARGET [SECONDS]`
# (`just fuzz TARGET`). See docs/FUZZING.md.
#
# The toolchain is stable; cargo-fuzz needs nightly-only flags (-Zsanitizer=address), which
# RUSTC_BOOTSTRAP=1 unlocks on a stable compiler. The seed corpus is built from fixtures/ on
# each run (XML files as they are for opi_xml; the same files length-prefixed, singly and in
# pairs, for opi_frame); new inputs libFuzzer finds stay in fuzz/corpus/TARGET (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${1:?usage: bash fuzz/run.sh TARGET [SECONDS]  (TARGET: opi_xml, opi_frame, terminal_inputs, cloud_command, cloud_event, tas_handshake, terminal_config, sandbox_fleet, kick_request, iot_connection)}"
seconds="${2:-300}"
jobs="${FUZZ_JOBS:-1}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz from crates.io"
  cargo install cargo-fuzz --locked
fi

corpus="fuzz/corpus/$target"
mkdir -p "$corpus"

# frame FILE: writes the 4-byte big-endian length of FILE, then FILE.
frame() {
  local n
  n=$(wc -c <"$1")
  printf "\\x$(printf %02x $(((n >> 24) & 255)))\\x$(printf %02x $(((n >> 16) & 255)))"
  printf "\\x$(printf %02x $(((n >> 8) & 255)))\\x$(printf %02x $((n & 255)))"
  cat "$1"
}

seed_opi() {
  local f name
  while IFS= read -r -d '' f; do
    name=$(basename "$f" .xml)
    case "$target" in
      opi_xml) cp "$f" "$corpus/seed_$name" ;;
      opi_frame)
        frame "$f" >"$corpus/seed_$name"
        { frame "$f"; frame "$f"; } >"$corpus/seed_pair_$name"
        ;;
    esac
  done < <(find fixtures/opi -name '*.xml' -size -60k -print0)
}

case "$target" in
  opi_xml | opi_frame) seed_opi ;;
  terminal_config) for f in fixtures/terminals/*.toml; do cp "$f" "$corpus/seed_$(basename "$f" .toml)"; done ;;
  sandbox_fleet) cp fixtures/sandbox.toml "$corpus/seed_sandbox" ;;
  *) ;;
esac
# Hand-written seeds of the targets that have them (fuzz/seeds/TARGET/).
if [ -d "fuzz/seeds/$target" ]; then
  for f in "fuzz/seeds/$target"/*; do cp "$f" "$corpus/seed_$(basename "$f")"; done
fi

# One process by default (the machine is shared). FUZZ_JOBS=N runs N workers; libFuzzer then
# writes their output to fuzz-<n>.log in the repository root.
job_args=()
[ "$jobs" -gt 1 ] && job_args=("-jobs=$jobs" "-workers=$jobs")

dict_args=()
[ -f "fuzz/dict/$target.dict" ] && dict_args=("-dict=fuzz/dict/$target.dict")

echo "==> fuzzing $target for ${seconds}s with $jobs job(s); corpus $(find "$corpus" -type f | wc -l) files"
RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz "$target" "$corpus" -- \
  -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  "${job_args[@]}" "${dict_args[@]}"
