#!/usr/bin/env bash
# Installs what the tests and the demo need, idempotently: the pinned Deno (from npm) and the
# Debian packages of every program that a test, the demo or a benchmark driver runs.
# The programs and their packages are listed in one place, scripts/programs.json: "test" for the
# tests and the demo, "bench" for what the side-by-side benchmark (scripts/bench/lb_compare.ts)
# drives besides (nginx with its stream module and haproxy as the balancers to compare, wrk and
# iperf3 as load). The test helpers only accept programs named there (tests/programs.ts), and
# tests/programs_test.ts checks that this script installs every package the file names.
#
# "browser" is headless Chromium, which only the status page's test drives (about 100 MB more,
# so a plain setup leaves it out; scripts/test.sh asks for it).
#
# usage: bash scripts/setup.sh [--bench] [--browser] [--list]
#   --bench    also the benchmark's packages
#   --browser  also the browser the status page's test drives
#   --list     print the package names, one a line, and install nothing
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

bench=0
browser=0
list=0
for a in "$@"; do
  case "$a" in
  --bench) bench=1 ;;
  --browser) browser=1 ;;
  --list) list=1 ;;
  *)
    echo "setup: unknown argument $a (expected --bench, --browser or --list)" >&2
    exit 2
    ;;
  esac
done

# Node.js is already needed for npm (the pinned Deno comes from npm), so it reads the JSON.
mapfile -t packages < <(node -e '
  const p = require(process.argv[1]);
  const groups = [p.test];
  if (process.argv[2] === "1") groups.push(p.bench);
  if (process.argv[3] === "1") groups.push(p.browser);
  const all = new Set(groups.flatMap((g) => Object.values(g).flat()));
  console.log([...all].sort().join("\n"));
' "$root/scripts/programs.json" "$bench" "$browser")
if [ "$list" -eq 1 ]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages (${missing[*]}); run as root to install them" >&2
  else
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
fi
# The pinned Deno: scripts/deno installs it from npm (package-lock.json) when absent.
"$root/scripts/deno" --version >&2
