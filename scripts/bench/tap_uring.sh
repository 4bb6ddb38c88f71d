#!/usr/bin/env bash
# The io_uring TAP experiment: does driving a TAP through io_uring (tap_uring.c: a multishot read
# into a provided-buffer ring, writes submitted BATCH at a time) cost less per frame than the
# read()/write() loops (tap_rx.c, tap_fwd.c)? Side by side in one run, on one TAP, with the load
# of tap_rx.sh (receive) and tap_fwd.sh (DR forwarding), for BATCH in BATCHES, REPS times in turn
# (so the noise of a shared machine falls on every variant alike); the medians of the REPS runs
# and of the per-run ratios to the read/write loop are printed.
#
# The network is tap_fwd.sh's: a hub namespace holds the TAP (txqueuelen QUEUE) in a bridge with
# veths to two real-server namespaces (SINK=bridge), or the real servers' addresses on the TAP's
# kernel side (SINK=local). The reader or forwarder runs alone on CPU 1, tap_rx_flood.c on CPU 0.
# Per variant:
# - rx drain: the reader is stopped (SIGSTOP), QUEUE - 1000 broadcast frames are queued, it is
#   continued; ROUNDS rounds; the reader's own drainRate (tap_rx.c's definition) and its CPU time
#   (getrusage: user + system) over the frames it read.
# - rx flood: one core sends for SECONDS while the reader reads: the reader keeps up (the sender
#   is the bound, ~1 M/s), so the figure is its CPU per frame at that rate. Below its capacity a
#   reader often finds the queue empty and sleeps; io_uring with BATCH > 1 waits up to 1 ms for
#   a batch, so the read() loop is also measured with the same wait ("rw-linger": tap_rx.c
#   LINGER_US 1000), to tell the saving of fewer wake-ups from that of fewer system calls.
# - fwd drain / flood: as tap_fwd.sh, counted from outside by the TAP's rx_packets (frames the
#   forwarder wrote back): the rate draining a full queue of TCP frames (ROUNDS rounds) and while
#   one core floods for SECONDS; plus the forwarder's CPU time over every frame it forwarded
#   (warm-up, drains and flood).
# CPU per frame is the figure least disturbed by other load: a rate on a shared 2-vCPU machine
# moves with whatever else runs, the CPU a frame costs much less.
#
# usage: sudo [SINK=bridge|local] [REPS=3] [BATCHES="1 8 32 128"] scripts/bench/tap_uring.sh
#          [SECONDS (default 2)] [ROUNDS (default 5)]
# Needs root, gcc and Linux 6.7+ (IORING_OP_READ_MULTISHOT); binaries go to .tmp/bench/. About
# 5 minutes with the defaults; every wait and send is bounded. Prints each measurement on stderr
# and a markdown table for docs/BENCHMARKS.md (KEEP_TMP=1 keeps the figures, results.jsonl).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
secs="${1:-2}"
rounds="${2:-5}"
reps="${REPS:-3}"
batches="${BATCHES:-1 8 32 128}"
sink="${SINK:-bridge}"
case "$sink" in bridge | local) ;; *)
  echo "SINK=$sink: expected bridge or local" >&2
  exit 2
  ;;
esac
if [ "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)" != 0 ]; then
  echo "io_uring is disabled (/proc/sys/kernel/io_uring_disabled)" >&2
  exit 2
fi
queue=32768
flows=64
bin="$root/.tmp/bench"
mkdir -p "$bin"
for p in tap_rx tap_fwd tap_uring tap_rx_flood; do
  gcc -O2 -Wall -Wextra -o "$bin/$p" "$root/scripts/bench/$p.c"
done

lb_mac=02:00:5e:99:00:02
real_mac=(02:00:5e:99:00:11 02:00:5e:99:00:12)
vip=10.99.0.100
client=10.99.0.50

id="$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
hub="lbuh$id"
rns=("lbu1$id" "lbu2$id")
tap="lbu$id"
br="lbub$id"
tmp="$(mktemp -d /tmp/lbts-tapuring.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    kill -CONT "$p" 2>/dev/null || true
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do # a bounded wait, so the namespaces go after the TAP is released
    for _ in $(seq 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  done
  for n in "$hub" "${rns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  [ -n "${KEEP_TMP:-}" ] && echo "kept $tmp" >&2 || rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# --- the network (as tap_fwd.sh)
for n in "$hub" "${rns[@]}"; do
  ip netns add "$n"
  ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1
done
ip -n "$hub" tuntap add dev "$tap" mode tap # persistent: the readers and forwarders attach in turn
ip -n "$hub" link set "$tap" txqueuelen "$queue" up
if [ "$sink" = local ]; then
  ip -n "$hub" addr add 10.99.0.11/24 dev "$tap"
  ip -n "$hub" addr add 10.99.0.12/24 dev "$tap"
  real_mac[0]="$(ip netns exec "$hub" cat "/sys/class/net/$tap/address")"
else
  ip -n "$hub" link add "$br" type bridge
  ip -n "$hub" link set "$br" type bridge forward_delay 0
  for f in iptables ip6tables arptables; do
    ip netns exec "$hub" sysctl -qw "net.bridge.bridge-nf-call-$f=0" 2>/dev/null || true
  done
  ip -n "$hub" link set "$br" up
  ip -n "$hub" link set "$tap" master "$br"
  for i in 0 1; do
    host="lbuv$((i + 1))$id"
    peer="lbur$((i + 1))$id"
    ip -n "$hub" link add "$host" type veth peer name "$peer" netns "${rns[$i]}"
    ip -n "$hub" link set "$host" master "$br" up
    ip -n "${rns[$i]}" link set "$peer" address "${real_mac[$i]}"
    ip -n "${rns[$i]}" addr add "10.99.0.1$((i + 1))/24" dev "$peer"
    ip -n "${rns[$i]}" link set "$peer" up
    ip -n "${rns[$i]}" link set lo up
    bridge -n "$hub" fdb replace "${real_mac[$i]}" dev "$host" master static
  done
  ip netns exec "${rns[0]}" ping -c 1 -W 2 10.99.0.12 >/dev/null # the wiring works
fi

cpus="$(nproc)"
cpu=$((cpus > 1 ? 1 : 0)) # with 2+ CPUs the reader/forwarder and the sender get a core each
counter="/sys/class/net/$tap/statistics/rx_packets" # as seen inside $hub
spec="$lb_mac,$client,$vip,80,$flows"
py() { python3 -c "$@"; }
tap_dropped() {
  ip -n "$hub" -j -s link show "$tap" |
    py 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["tx"]["dropped"])'
}
# flood_to SECONDS MAX_FRAMES [OPTIONS...]: frames into the TAP from CPU 0 (tap_rx_flood.c).
flood_to() {
  local s="$1" n="$2"
  shift 2
  timeout 20 ip netns exec "$hub" taskset -c 0 "$bin/tap_rx_flood" "$@" "$tap" "$s" "$n"
}

# start LABEL CMD...: the program in the hub namespace on its own core; sets $ppid_ once ready.
# ip netns exec and taskset exec it, so $! is the program itself (SIGSTOP reaches it).
start() {
  local out="$tmp/$1.out"
  shift
  ip netns exec "$hub" taskset -c "$cpu" "$@" >"$out" 2>&1 &
  ppid_=$!
  pids+=("$ppid_")
  for _ in $(seq 100); do
    if grep -q ready "$out" 2>/dev/null; then return; fi
    if ! kill -0 "$ppid_" 2>/dev/null; then break; fi
    sleep 0.05
  done
  echo "$* did not start:" >&2
  cat "$out" >&2
  exit 1
}
# pause LABEL: stops the running program (SIGSTOP); if it has ended, shows why and gives up.
pause() {
  if ! kill -STOP "$ppid_" 2>/dev/null; then
    echo "$1 ended early:" >&2
    cat "$tmp/$1.out" >&2
    exit 1
  fi
}
# finish LABEL: waits up to 10 s for the program to end by itself (then SIGKILL), prints its JSON.
finish() {
  for _ in $(seq 200); do kill -0 "$ppid_" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$ppid_" 2>/dev/null || true
  wait "$ppid_" || true
  pids=()
  tail -n 1 "$tmp/$1.out"
}

# rx VARIANT CMD...: prints one JSON line (drain rate, CPU per frame of both measures).
rx() {
  local v="$1" d0 drain flood_ sent
  shift
  start "rx-drain-$v" "$@"
  d0="$(tap_dropped)"
  for _ in $(seq "$rounds"); do
    pause "rx-drain-$v"
    flood_to 2 $((queue - 1000)) >/dev/null
    kill -CONT "$ppid_"
    sleep 0.3 # ~20 ms of work; the rest for a reader that other load keeps off its core
  done
  drain="$(finish "rx-drain-$v")"
  echo "rx $v drain: $drain (dropped by the TAP: $(($(tap_dropped) - d0)))" >&2
  start "rx-flood-$v" "$@"
  d0="$(tap_dropped)"
  sent="$(flood_to "$secs" 100000000)"
  flood_="$(finish "rx-flood-$v")"
  echo "rx $v flood: $flood_; sender: $sent; dropped by the TAP: $(($(tap_dropped) - d0))" >&2
  py 'import json,sys
d, f = json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(json.dumps({"mode": "rx", "variant": sys.argv[1], "drainRate": d["drainRate"],
  "drainUs": 1e6 * d["cpu"] / d["frames"], "drainCalls": d["syscalls"] / d["frames"],
  "floodRate": f["rate"], "floodUs": 1e6 * f["cpu"] / f["frames"],
  "floodCalls": f["syscalls"] / f["frames"]}))' "$v" "$drain" "$flood_"
}

# fwd VARIANT CMD...: prints one JSON line (drain and flood rates from outside, CPU per frame).
fwd() {
  local v="$1" r dr own
  shift
  start "fwd-$v" "$@"
  flood_to 0.2 $((flows * 16)) -t "$spec" >/dev/null # warm-up, as tap_fwd.sh
  sleep 0.3
  : >"$tmp/fwd-$v.drains"
  for _ in $(seq "$rounds"); do
    pause "fwd-$v"
    flood_to 2 $((queue - 1000)) -t "$spec" -w "$counter" -c "$ppid_" >>"$tmp/fwd-$v.drains"
    sleep 0.1
  done
  dr="$(py 'import json,sys
rs = [json.loads(l) for l in open(sys.argv[1])]
print(round(sum(r["drained"] for r in rs) / sum(r["drainSeconds"] for r in rs)))' \
    "$tmp/fwd-$v.drains")"
  r="$(flood_to "$(py "print($secs + 0.5)")" 1000000000 -t "$spec" -w "$counter")"
  own="$(finish "fwd-$v")"
  echo "fwd $v: drain $dr/s; flood $r; its own count: $own" >&2
  py 'import json,sys
r, o = json.loads(sys.argv[3]), json.loads(sys.argv[4])
print(json.dumps({"mode": "fwd", "variant": sys.argv[1], "drainRate": int(sys.argv[2]),
  "floodRate": r["fwdRate"], "us": 1e6 * o["cpu"] / o["forwarded"],
  "calls": o["syscalls"] / o["forwarded"], "writeErrors": o["writeErrors"]}))' \
    "$v" "$dr" "$r" "$own"
}

# What a system call costs on this machine (the most a frame saves per call it no longer makes).
sc="$(taskset -c "$cpu" "$bin/tap_uring" syscall)"
echo "system call cost: $sc" >&2

results="$tmp/results.jsonl"
: >"$results"
for rep in $(seq "$reps"); do
  echo "--- run $rep of $reps" >&2
  rx rw "$bin/tap_rx" "$tap" 1000 30 >>"$results"
  rx rw-linger "$bin/tap_rx" "$tap" 1000 30 1000 >>"$results"
  for b in $batches; do rx "uring-$b" "$bin/tap_uring" rx "$tap" 1000 30 "$b" >>"$results"; done
  fwd rw "$bin/tap_fwd" "$tap" 2000 60 "${real_mac[0]}" "$lb_mac" >>"$results"
  for b in $batches; do
    fwd "uring-$b" "$bin/tap_uring" fwd "$tap" 2000 60 "$b" "${real_mac[0]}" "$lb_mac" \
      >>"$results"
  done
done

# Medians of the runs, and of each run's ratio to the read/write loop of the same run. A ratio
# of CPU per frame below 1 (and of a rate above 1) favours io_uring.
py 'import json,statistics,sys
rows = [json.loads(l) for l in open(sys.argv[1])]
reps = int(sys.argv[2])
def runs(mode, variant, key):
    return [r[key] for r in rows if r["mode"] == mode and r["variant"] == variant]
def med(mode, variant, key):
    return statistics.median(runs(mode, variant, key))
def ratio(mode, variant, key):
    a, b = runs(mode, variant, key), runs(mode, "rw", key)
    return statistics.median(x / y for x, y in zip(a, b))
variants = ["rw"] + ["uring-" + b for b in sys.argv[3].split()]
names = {"rw": "read()/write() loop", "rw-linger": "read() loop, 1 ms linger"}
name = lambda v: names.get(v) or "io_uring, batch " + v.split("-")[1]
M = lambda x: "%.2f M" % (x / 1e6)
print()
print("| receive, 60-byte frames | drain (frames/s) | x | CPU/frame, drain | x | CPU/frame, flood | x | syscalls/frame (flood) |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for v in variants[:1] + ["rw-linger"] + variants[1:]:
    print("| %s | %s | %.2f | %.2f us | %.2f | %.2f us | %.2f | %.3f |" % (name(v),
      M(med("rx", v, "drainRate")), ratio("rx", v, "drainRate"), med("rx", v, "drainUs"),
      ratio("rx", v, "drainUs"), med("rx", v, "floodUs"), ratio("rx", v, "floodUs"),
      med("rx", v, "floodCalls")))
print()
print("| DR forwarding, 60-byte TCP frames | drain (frames/s) | x | flood (frames/s) | x | CPU/frame | x | syscalls/frame |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for v in variants:
    print("| %s | %s | %.2f | %s | %.2f | %.2f us | %.2f | %.3f |" % (name(v),
      M(med("fwd", v, "drainRate")), ratio("fwd", v, "drainRate"), M(med("fwd", v, "floodRate")),
      ratio("fwd", v, "floodRate"), med("fwd", v, "us"), ratio("fwd", v, "us"),
      med("fwd", v, "calls")))
print()
print("x: the median over the %d runs of the ratio to the read()/write() loop of the same run." % reps)' \
  "$results" "$reps" "$batches"
cat <<MD

A getppid() costs $(py 'import json,sys; print(json.loads(sys.argv[1])["getppidNs"])' "$sc") ns here, an io_uring_enter() with nothing to do $(py 'import json,sys; print(json.loads(sys.argv[1])["enterNs"])' "$sc") ns.
Measured $(date -u +%Y-%m-%d) on $(nproc) vCPU (shared), kernel $(uname -r), sink $sink, $reps runs: \`sudo ${SINK:+SINK=$SINK }${REPS:+REPS=$REPS }scripts/bench/tap_uring.sh${1:+ $1}${2:+ $2}\`
MD
