#!/usr/bin/env bash
# The TAP receive benchmark: how fast 60-byte frames from the kernel are read through a TAP by
# (a) the Deno TapDevice receive loop (stack/link/tap.ts, via tap_rx_deno.ts) and (b) a minimal C
# loop of the same shape (tap_rx.c). Both read the same persistent TAP in a fresh network
# namespace; tap_rx_flood.c sends from the kernel side with a raw AF_PACKET socket.
#
# Two measures per reader:
# - drain: the reader is stopped (SIGSTOP), the TAP queue (txqueuelen QUEUE) is filled, the reader
#   is continued and times how fast it empties the queue; ROUNDS rounds. This is the loop's
#   capacity: one sending core cannot outrun a reader on this machine.
# - flood: the sender sends for SECONDS while the reader reads; the reader's rate is
#   min(sender, reader), and the TAP's drop counter says whether the reader fell behind.
#
# usage: sudo scripts/bench/tap_rx.sh [SECONDS (default 3)] [ROUNDS (default 20)]
# Needs root and gcc (binaries go to .tmp/bench/). Bounded: about 20 s, always under 60 s.
# Prints each run's figures and a markdown block for docs/BENCHMARKS.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
secs="${1:-3}"
rounds="${2:-20}"
queue=32768
bin="$root/.tmp/bench"
mkdir -p "$bin"
gcc -O2 -Wall -Wextra -o "$bin/tap_rx" "$root/scripts/bench/tap_rx.c"
gcc -O2 -Wall -Wextra -o "$bin/tap_rx_flood" "$root/scripts/bench/tap_rx_flood.c"
deno="$root/scripts/deno"
"$deno" --version >/dev/null # installs the pinned Deno now, not inside a timed part

id="$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
ns="lbbns$id"
tap="lbb$id"
tmp="$(mktemp -d /tmp/lbts-taprx.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    kill -CONT "$p" 2>/dev/null || true
    kill "$p" 2>/dev/null || true
  done
  ip netns del "$ns" 2>/dev/null || true
  [ -n "${KEEP_TMP:-}" ] && echo "kept $tmp" >&2 || rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

ip netns add "$ns"
ip -n "$ns" tuntap add dev "$tap" mode tap # persistent, so the readers attach in turn
ip -n "$ns" link set "$tap" txqueuelen "$queue" up
cpus="$(nproc)"
reader_cpu=$((cpus > 1 ? 1 : 0)) # with 2+ CPUs the reader and the sender get a core each

drops() {
  ip -n "$ns" -j -s link show "$tap" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["tx"]["dropped"])'
}
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
flood() { timeout 20 ip netns exec "$ns" taskset -c 0 "$bin/tap_rx_flood" "$tap" "$1" "$2"; }

# start_reader LABEL CMD...: the reader in the namespace on its own core; sets $rpid once ready.
# ip netns exec and taskset exec the command, so $! is the reader itself (SIGSTOP reaches it).
start_reader() {
  local out="$tmp/$1.out"
  shift
  ip netns exec "$ns" taskset -c "$reader_cpu" "$@" "$tap" 1000 25 >"$out" &
  rpid=$!
  pids+=("$rpid")
  for _ in $(seq 100); do
    if grep -q ready "$out" 2>/dev/null; then return; fi
    sleep 0.05
  done
  echo "reader $* did not start:" >&2
  cat "$out" >&2
  exit 1
}

finish_reader() {
  local end=$((SECONDS + 10))
  while kill -0 "$rpid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.05; done
  wait "$rpid" || true
  tail -n 1 "$tmp/$1.out"
}

# measure LABEL CMD...: prints "DRAIN_RATE FLOOD_RATE" on stdout, details on stderr.
measure() {
  local label="$1"
  shift
  start_reader "$label-drain" "$@"
  local d0 r
  d0="$(drops)"
  for _ in $(seq "$rounds"); do
    kill -STOP "$rpid"
    # A little less than the queue: a few slots may hold the kernel's own frames (IPv6).
    flood 2 $((queue - 1000)) >/dev/null
    kill -CONT "$rpid"
    sleep 0.1
  done
  r="$(finish_reader "$label-drain")"
  echo "$label drain: $r (over the queue: $(($(drops) - d0)) dropped)" >&2
  local drain
  drain="$(field "$r" drainRate)"

  start_reader "$label-flood" "$@"
  d0="$(drops)"
  local sent
  sent="$(flood "$secs" 100000000)"
  r="$(finish_reader "$label-flood")"
  echo "$label flood: $r; sender: $sent; dropped by the TAP: $(($(drops) - d0))" >&2
  echo "$drain $(field "$r" rate) $(field "$sent" rate)"
}

read -r deno_drain deno_flood deno_sender < <(measure deno "$deno" run --allow-ffi \
  "$root/scripts/bench/tap_rx_deno.ts")
read -r c_drain c_flood c_sender < <(measure c "$bin/tap_rx")
m() { python3 -c "print(f'{$1 / 1e6:.2f} M')"; }
pct() { python3 -c "print(f'{$1 / $2 * 100:.0f}%')"; }

cat <<MD

| 60-byte frames/s | Deno \`TapDevice.run\` | C read loop | Deno / C |
| --- | --- | --- | --- |
| drain a full queue (loop capacity) | $(m "$deno_drain") | $(m "$c_drain") | $(pct "$deno_drain" "$c_drain") |
| while one core floods (bound by the sender) | $(m "$deno_flood") of $(m "$deno_sender") sent | $(m "$c_flood") of $(m "$c_sender") sent | - |

Measured $(date -u +%Y-%m-%d) on $(nproc) vCPU, kernel $(uname -r), Deno $("$deno" --version | head -n 1 | cut -d' ' -f2): \`sudo scripts/bench/tap_rx.sh${1:+ $1}${2:+ $2}\`
MD
