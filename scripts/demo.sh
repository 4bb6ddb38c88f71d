#!/usr/bin/env bash
# The demo: installs what it needs (pinned Deno, Debian packages), then builds a namespace network
# with a userspace host on a TAP, shows the kernel and the host pinging each other, prints the
# host's tables, and tears everything down.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: needs root: it creates network namespaces, a bridge and a TAP device (CAP_NET_ADMIN)" >&2
  exit 1
fi
bash "$root/scripts/setup.sh"
exec "$root/scripts/deno" run -A "$root/scripts/demo.ts" "$@"
