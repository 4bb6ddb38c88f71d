#!/usr/bin/env bash
# The whole test suite: installs what it needs, then format, lint, type check, and every test
# (unit tests with the in-memory device; namespace tests with the kernel as peer, which skip with
# a reason when not root).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# --browser: the status page's test drives headless Chromium.
bash scripts/setup.sh --browser
deno=scripts/deno
export NO_COLOR=1
# A Deno cache of this checkout's own, and a type check from scratch: Deno 2.9 keeps incremental
# type-check state (tsbuildinfo) per file path in its cache, and checking changed code against a
# stale state from an earlier tree at the same path reported errors that a clean check does not
# (seen on a shared ~/.cache/deno: 19 false "[Symbol.dispose] is missing" errors). The package
# downloads stay cached here between runs; only the type-check state is dropped.
export DENO_DIR="${LBTS_DENO_DIR:-$root/.tmp/deno}"
mkdir -p "$DENO_DIR"
rm -f "$DENO_DIR"/check_cache_v2*
echo "== deno fmt --check"; "$deno" fmt --check
echo "== deno lint"; "$deno" lint
echo "== deno check"; "$deno" check .
# The library's public surface: every export of mod.ts documented, no private type in a signature.
echo "== deno doc --lint mod.ts"; "$deno" doc --lint mod.ts
echo "== deno test"; "$deno" test -A tests/ "$@"
