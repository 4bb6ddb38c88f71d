#!/usr/bin/env bash
# Installs what the tests and the demo need, idempotently: the pinned Deno (from npm) and the
# Debian packages that the namespace tests use as kernel peers and tools.
# `--bench` also installs what the side-by-side benchmark drives (scripts/bench/lb_compare.ts):
# nginx (with its stream module) and haproxy as the balancers to compare, wrk and iperf3 as load.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(iproute2 iputils-ping arping tcpdump python3-scapy netcat-openbsd curl hping3 nftables procps gcc libc6-dev)
if [ "${1:-}" = "--bench" ]; then
  packages+=(nginx libnginx-mod-stream haproxy wrk iperf3)
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
