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
echo "== deno fmt --check"; "$deno" fmt --check
echo "== deno lint"; "$deno" lint
echo "== deno check"; "$deno" check .
# The library's public surface: every export of mod.ts documented, no private type in a signature.
echo "== deno doc --lint mod.ts"; "$deno" doc --lint mod.ts
echo "== deno test"; "$deno" test -A tests/ "$@"
