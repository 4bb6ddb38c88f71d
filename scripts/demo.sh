#!/usr/bin/env bash
# The demo: installs what it needs (pinned Deno, Debian packages), then builds a namespace network
# with a client, three kernel HTTP servers and the userspace balancer on a TAP in front of them,
# sends a few hundred requests through the VIP, prints how they were distributed and the
# balancer's tables, and tears everything down (scripts/demo.ts).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: needs root: it creates network namespaces, a bridge and a TAP device (CAP_NET_ADMIN)" >&2
  exit 1
fi
bash "$root/scripts/setup.sh"
exec "$root/scripts/deno" run -A "$root/scripts/demo.ts" "$@"
