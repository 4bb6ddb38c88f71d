#!/usr/bin/env bash
# The TAP forwarding benchmark (the target: a forwarding rate at least half of what a minimal C
# read/write loop achieves on the same TAP): how many 60-byte frames per second go in through a
# TAP and back out of it, forwarded by direct routing, by
# (a) lb.ts itself: `lb.ts run --scheduler mh --method dr` with two real servers, the whole
#     stack and balancer (Ethernet, IPv4 validation, the packet hook, the connection table, the
#     DR send through the ARP cache), and
# (b) tap_fwd.c: the receive loop of tap_rx.c that only rewrites the two MAC addresses of each
#     frame and write()s it back (the least a DR forwarder can do).
#
# The network, in namespaces with a per-run suffix: a hub namespace holds a bridge with the TAP
# (txqueuelen QUEUE) and two veths to namespaces r1 (10.99.0.11) and r2 (10.99.0.12), real
# kernel interfaces that answer the balancer's ARP; IPv6 is off so the kernel adds no frames.
# SINK=local instead gives both real server addresses to the kernel side of the TAP (no bridge,
# no veths): the kernel answers ARP with the TAP's MAC and drops the forwarded frames in its IPv4
# input (not its address, forwarding off), the cheapest sink, so the forwarders' own per-frame
# work weighs more in the ratio. The C loop forwards to the first real server's MAC either way.
# tap_rx_flood.c -t sends identical-shape TCP ACK segments 10.99.0.50:10000+i -> 10.99.0.100:80
# (i over FLOWS flows, valid checksums, Ethernet to the balancer's MAC) from the kernel side of the
# TAP (AF_PACKET, qdisc bypass) into the forwarder's queue. With mh a non-SYN segment of an
# unknown flow is forwarded to the Maglev choice, so no handshake is needed; a short warm-up
# resolves the real servers' MACs and creates the FLOWS connection entries before measuring. The
# forwarded frames cross the bridge to r1/r2, whose kernels drop them (the VIP is not theirs).
#
# Both forwarders are measured the same way, from the outside: by the TAP's rx_packets counter
# (/sys/class/net/TAP/statistics/rx_packets: the frames the forwarder wrote back), read by the
# flooder (tap_rx_flood.c -w), which runs on CPU 0; the forwarder runs alone on CPU 1, together
# with the kernel work its write()s cause (bridge, veth, the real server's IPv4 input).
# - drain (loop capacity, as tap_rx.sh): the forwarder is stopped (SIGSTOP), QUEUE - 1000 frames
#   are queued, the flooder continues it (SIGCONT) and reads the counter every ~20 us until it
#   stops changing: frames over the time from its first change to its last, ROUNDS rounds, summed.
# - flood: the flooder sends for SECONDS + 0.5 s as fast as one core can while the forwarder
#   runs; the counter's delta from 0.5 s to the end over that time. "offered" is what the sender
#   sent plus what the TAP dropped because its queue was full; when the TAP drops nothing, the
#   forwarder kept up and the figure is the sender's rate, not the forwarder's.
# The C loop's own count (its JSON) and lb.ts's packet counters (lb.list), and the frames the real
# servers' interfaces received, are printed as cross-checks.
#
# usage: sudo [SINK=bridge|local] scripts/bench/tap_fwd.sh [SECONDS (default 3)]
#          [ROUNDS (default 10)] [FLOWS (default 64)]
# Needs root and gcc (binaries go to .tmp/bench/). About 20 s; every wait and send is bounded.
# Prints each run's figures on stderr and a markdown block for docs/BENCHMARKS.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
secs="${1:-3}"
rounds="${2:-10}"
flows="${3:-64}"
sink="${SINK:-bridge}"
case "$sink" in bridge | local) ;; *)
  echo "SINK=$sink: expected bridge or local" >&2
  exit 2
  ;;
esac
queue=32768
bin="$root/.tmp/bench"
mkdir -p "$bin"
gcc -O2 -Wall -Wextra -o "$bin/tap_fwd" "$root/scripts/bench/tap_fwd.c"
gcc -O2 -Wall -Wextra -o "$bin/tap_rx_flood" "$root/scripts/bench/tap_rx_flood.c"
deno="$root/scripts/deno"
"$deno" --version >/dev/null # installs the pinned Deno now, not inside a timed part

lb_mac=02:00:5e:99:00:02
real_mac=(02:00:5e:99:00:11 02:00:5e:99:00:12)
vip=10.99.0.100
client=10.99.0.50

id="$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
hub="lbfh$id"
rns=("lbf1$id" "lbf2$id")
tap="lbf$id"
br="lbfb$id"
tmp="$(mktemp -d /tmp/lbts-tapfwd.XXXXXX)"
sock="$tmp/lb.sock"
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

# --- the network
for n in "$hub" "${rns[@]}"; do
  ip netns add "$n"
  ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1
done
ip -n "$hub" tuntap add dev "$tap" mode tap # persistent: the forwarders attach in turn
ip -n "$hub" link set "$tap" txqueuelen "$queue" up
if [ "$sink" = local ]; then
  ip -n "$hub" addr add 10.99.0.11/24 dev "$tap"
  ip -n "$hub" addr add 10.99.0.12/24 dev "$tap"
  real_mac[0]="$(ip netns exec "$hub" cat "/sys/class/net/$tap/address")"
else
  ip -n "$hub" link add "$br" type bridge
  ip -n "$hub" link set "$br" type bridge forward_delay 0
  # With br_netfilter loaded, bridged IPv4 would go through iptables (tests/netns/topology.ts).
  for f in iptables ip6tables arptables; do
    ip netns exec "$hub" sysctl -qw "net.bridge.bridge-nf-call-$f=0" 2>/dev/null || true
  done
  ip -n "$hub" link set "$br" up
  ip -n "$hub" link set "$tap" master "$br"
fi
for i in 0 1; do
  [ "$sink" = bridge ] || break
  host="lbfv$((i + 1))$id"
  peer="lbfr$((i + 1))$id"
  ip -n "$hub" link add "$host" type veth peer name "$peer" netns "${rns[$i]}"
  ip -n "$hub" link set "$host" master "$br" up
  ip -n "${rns[$i]}" link set "$peer" address "${real_mac[$i]}"
  ip -n "${rns[$i]}" addr add "10.99.0.1$((i + 1))/24" dev "$peer"
  ip -n "${rns[$i]}" link set "$peer" up
  ip -n "${rns[$i]}" link set lo up
  # Static, so the bridge never floods a forwarded frame to both real servers.
  bridge -n "$hub" fdb replace "${real_mac[$i]}" dev "$host" master static
done
if [ "$sink" = bridge ]; then
  ip netns exec "${rns[0]}" ping -c 1 -W 2 10.99.0.12 >/dev/null # the wiring works
fi

cpus="$(nproc)"
fwd_cpu=$((cpus > 1 ? 1 : 0)) # with 2+ CPUs the forwarder and the sender get a core each
counter="/sys/class/net/$tap/statistics/rx_packets" # as seen inside $hub
spec="$lb_mac,$client,$vip,80,$flows"

py() { python3 -c "$@"; }
field() { py 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
tap_stat() { # tap_stat rx|tx packets|dropped
  ip -n "$hub" -j -s link show "$tap" |
    py 'import json,sys; print(json.load(sys.stdin)[0]["stats64"][sys.argv[1]][sys.argv[2]])' \
      "$1" "$2"
}
delivered() { # frames received by both real servers' interfaces (SINK=local: the TAP's)
  local sum=0 i
  if [ "$sink" = local ]; then
    tap_stat rx packets
    return
  fi
  for i in 0 1; do
    sum=$((sum + $(ip netns exec "${rns[$i]}" cat \
      "/sys/class/net/lbfr$((i + 1))$id/statistics/rx_packets")))
  done
  echo "$sum"
}
# flood [-w FILE [-c PID]] SECONDS MAX_FRAMES: TCP frames into the TAP from CPU 0.
flood() {
  local opts=()
  while [ "$#" -gt 2 ]; do opts+=("$1"); shift; done
  timeout 20 ip netns exec "$hub" taskset -c 0 "$bin/tap_rx_flood" -t "$spec" "${opts[@]}" \
    "$tap" "$1" "$2"
}
# One control request to the running balancer; prints its result as JSON.
control() {
  py 'import json,socket,sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall((json.dumps({"cmd": sys.argv[2]}) + "\n").encode()); b = b""
while not b.endswith(b"\n"):
    d = s.recv(65536)
    if not d: break
    b += d
r = json.loads(b); print(json.dumps(r["result"] if r["ok"] else r))' "$sock" "$1"
}

# start_fwd LABEL READY CMD...: the forwarder in the hub namespace on its own core; sets $fpid.
# ip netns exec, taskset and scripts/deno exec, so $! is the forwarder itself (SIGSTOP reaches it).
start_fwd() {
  local out="$tmp/$1.out" ready="$2"
  shift 2
  ip netns exec "$hub" taskset -c "$fwd_cpu" "$@" >"$out" 2>&1 &
  fpid=$!
  pids+=("$fpid")
  for _ in $(seq 600); do # up to 30 s: the first run of lb.ts compiles it
    if grep -q "$ready" "$out" 2>/dev/null; then return; fi
    if ! kill -0 "$fpid" 2>/dev/null; then break; fi
    sleep 0.05
  done
  echo "forwarder $* did not start:" >&2
  cat "$out" >&2
  exit 1
}

# stop_fwd: waits up to 5 s for the forwarder $fpid to end (then SIGKILL) and reaps it.
stop_fwd() {
  for _ in $(seq 100); do kill -0 "$fpid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$fpid" 2>/dev/null || true
  wait "$fpid" || true
  pids=() # reaped: its PID may be reused, so the cleanup must not signal it
}

# measure LABEL: with the forwarder $fpid running, prints "DRAIN_RATE FLOOD_RATE SENDER_RATE".
measure() {
  local label="$1" r d0 t0 x0
  # Warm-up: ARP for the real servers, one connection entry per flow.
  flood 0.2 $((flows * 16)) >/dev/null
  sleep 0.5
  x0="$(delivered)"
  : >"$tmp/$label.drains"
  for _ in $(seq "$rounds"); do
    kill -STOP "$fpid"
    flood -w "$counter" -c "$fpid" 2 $((queue - 1000)) >>"$tmp/$label.drains"
    sleep 0.1
  done
  local drain
  drain="$(py 'import json,sys
rs = [json.loads(l) for l in open(sys.argv[1])]
print(round(sum(r["drained"] for r in rs) / sum(r["drainSeconds"] for r in rs)))
print(sum(r["total"] for r in rs), sum(r["sent"] for r in rs), len(rs),
      min(r["drainRate"] for r in rs), max(r["drainRate"] for r in rs))' "$tmp/$label.drains")"
  read -r -a dd <<<"$(echo "$drain" | tail -n 1)"
  echo "$label drain: $(echo "$drain" | head -n 1)/s over ${dd[2]} rounds" \
    "(round min ${dd[3]}, max ${dd[4]}); forwarded ${dd[0]} of ${dd[1]} queued" >&2
  d0="$(tap_stat tx dropped)"
  t0="$(tap_stat rx packets)"
  r="$(flood -w "$counter" "$(py "print($secs + 0.5)")" 1000000000)"
  sleep 0.5 # the forwarder empties the queue, so the cross-checks below count every frame
  echo "$label flood: $r; dropped by the TAP (forwarder behind): $(($(tap_stat tx dropped) - d0))" \
    >&2
  echo "$label: the real servers received $(($(delivered) - x0)) frames since the warm-up;" \
    "the TAP got $(($(tap_stat rx packets) - t0)) frames back during the flood" >&2
  local offered
  offered="$(py 'import json,sys; r = json.loads(sys.argv[1])
print(round((r["sent"] + int(sys.argv[2])) / r["seconds"]))' "$r" "$(($(tap_stat tx dropped) - d0))")"
  echo "$(echo "$drain" | head -n 1) $(field "$r" fwdRate) $offered"
}

# --- C
start_fwd c ready "$bin/tap_fwd" "$tap" 2000 60 "${real_mac[0]}" "$lb_mac"
read -r c_drain c_flood c_offered < <(measure c)
stop_fwd # it ends by itself after 2 s without frames
echo "c: its own count: $(tail -n 1 "$tmp/c.out")" >&2

# --- lb.ts
start_fwd lb "balancer up" "$deno" run --allow-ffi "$root/lb.ts" run --tap "$tap" \
  --ip 10.99.0.2/24 --mac "$lb_mac" --control "$sock" --service "tcp:$vip:80" --scheduler mh \
  --method dr --real 10.99.0.11 --real 10.99.0.12
lb0="$(control lb.list)"
st0="$(control snapshot)"
read -r lb_drain lb_flood lb_offered < <(measure lb)
lb1="$(control lb.list)"
st1="$(control snapshot)"
# Its packet counters since before the warm-up, and every stack counter (drops by reason) and
# device statistic that changed.
py 'import json,sys
a, b, c, d = (json.loads(x) for x in sys.argv[1:5])
s0, s1 = a["services"][0], b["services"][0]
reals = ", ".join("%s %d" % (r1["address"], r1["packetsIn"] - r0["packetsIn"])
                  for r0, r1 in zip(s0["reals"], s1["reals"]))
def changed(x, y):
    return {k: v - x.get(k, 0) for k, v in y.items() if isinstance(v, int) and v != x.get(k, 0)}
print("lb: its own count: %d packets forwarded (%s), %d connections; counters changed: %s;"
      " device: %s" % (s1["packetsIn"] - s0["packetsIn"], reals, b["connections"],
      changed(c["counters"], d["counters"]), changed(c["device"], d["device"])), file=sys.stderr)' \
  "$lb0" "$lb1" "$st0" "$st1"
kill -TERM "$fpid"
stop_fwd

m() { py "print(f'{$1 / 1e6:.2f} M')"; }
pct() { py "print(f'{$1 / $2 * 100:.0f}%')"; }

cat <<MD

| 60-byte TCP frames/s forwarded (DR) through a TAP | lb.ts \`run\` (mh, dr, 2 reals) | C read/rewrite/write loop | lb.ts / C |
| --- | --- | --- | --- |
| drain a full queue (loop capacity) | $(m "$lb_drain") | $(m "$c_drain") | $(pct "$lb_drain" "$c_drain") |
| while one core floods | $(m "$lb_flood") of $(m "$lb_offered") offered | $(m "$c_flood") of $(m "$c_offered") offered | $(pct "$lb_flood" "$c_flood") |

Measured $(date -u +%Y-%m-%d) on $(nproc) vCPU, kernel $(uname -r), Deno $("$deno" --version | head -n 1 | cut -d' ' -f2), $flows flows, sink $sink: \`sudo ${SINK:+SINK=$SINK }scripts/bench/tap_fwd.sh${1:+ $1}${2:+ $2}${3:+ $3}\`
MD
