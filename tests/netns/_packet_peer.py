"""A scripted TCP peer in the manner of gVisor's packetimpact: exact segments toward the userspace
stack, built with scapy and sent on a raw AF_PACKET socket, and the times of what the stack sends
back. tests/netns/tcp_packet_test.ts runs one scenario per call inside the peer's namespace (whose
kernel has its RSTs dropped, so it stays out of the conversation) and asserts on the one JSON
object the scenario prints.

Usage: _packet_peer.py SCENARIO IFACE MY_MAC MY_IP STACK_MAC STACK_IP SPORT [ARG]

The peer measures an RTT of RTT_MS into every sample the stack takes: it answers the SYN-ACK and
every flight only RTT_MS after they arrive, echoing their TSvals, so the stack's min RTT is 40 ms
and RACK's reordering window min_RTT / 4 is 10 ms.
"""

import json
import socket
import sys
import time

from scapy.all import ICMP, IP, TCP, Ether, Raw

RTT_MS = 40


class Seg:
    """A segment the stack sent, with the time it arrived (ms since the peer started)."""

    def __init__(self, tcp, at):
        self.seq = tcp.seq
        self.ack = tcp.ack
        self.flags = str(tcp.flags)
        self.win = tcp.window
        self.data = bytes(tcp.payload)
        self.at = at
        self.tsval = 0
        for name, value in tcp.options:
            if name == "Timestamp":
                self.tsval = value[0]

    @property
    def end(self):
        return (self.seq + len(self.data) + (1 if "F" in self.flags else 0)) & 0xFFFFFFFF


class Peer:
    def __init__(self, iface, my_mac, my_ip, their_mac, their_ip, sport, dport):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
        self.sock.bind((iface, 0))
        self.my_mac, self.my_ip = my_mac, my_ip
        self.their_mac, self.their_ip = their_mac, their_ip
        self.sport, self.dport = sport, dport
        self.t0 = time.monotonic()
        self.seq = 1_000_000
        self.rcv_nxt = 0
        self.ecr = 0
        self.iss = 0

    def now(self):
        return (time.monotonic() - self.t0) * 1000

    def frame(self, flags, seq, ack, win=65535, sack=(), data=b"", ecr=None, syn_opts=False):
        opts = []
        if syn_opts:
            opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (int(self.now()) + 1, 0)),
                    ("NOP", None), ("WScale", 7)]
        else:
            opts = [("NOP", None), ("NOP", None),
                    ("Timestamp", (int(self.now()) + 1, self.ecr if ecr is None else ecr))]
            if sack:
                opts += [("NOP", None), ("NOP", None), ("SAck", tuple(x for b in sack for x in b))]
        return (Ether(src=self.my_mac, dst=self.their_mac)
                / IP(src=self.my_ip, dst=self.their_ip)
                / TCP(sport=self.sport, dport=self.dport, flags=flags, seq=seq, ack=ack,
                      window=win, options=opts)
                / Raw(data))

    def send(self, pkt):
        self.sock.send(bytes(pkt))

    def ack(self, ack, sack=(), win=65535, ecr=None):
        self.send(self.frame("A", self.seq, ack, win=win, sack=sack, ecr=ecr))

    def recv(self, timeout_ms):
        """The next segment from the stack to us within `timeout_ms`, or None."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                raw = self.sock.recv(65535)
            except socket.timeout:
                return None
            p = Ether(raw)
            if IP not in p or TCP not in p:
                continue
            if p[IP].src != self.their_ip or p[TCP].dport != self.sport:
                continue
            return Seg(p[TCP], self.now())

    def collect(self, quiet_ms, limit_ms=2000):
        """Every segment until none came for `quiet_ms` (or `limit_ms` passed)."""
        out = []
        end = self.now() + limit_ms
        while self.now() < end:
            s = self.recv(quiet_ms)
            if s is None:
                break
            out.append(s)
        return out

    def connect(self):
        self.send(self.frame("S", self.seq, 0, syn_opts=True))
        synack = self.recv(2000)
        assert synack is not None and "S" in synack.flags, "no SYN-ACK"
        self.iss = synack.seq
        self.rcv_nxt = (synack.seq + 1) & 0xFFFFFFFF
        self.ecr = synack.tsval
        self.seq += 1
        time.sleep(RTT_MS / 1000)
        self.ack(self.rcv_nxt)

    def get(self, path):
        req = f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode()
        self.send(self.frame("PA", self.seq, self.rcv_nxt, data=req))
        self.seq += len(req)

    def first_flight(self, path):
        """Connects, asks for `path`, and returns the first flight of data (the initial window)."""
        self.connect()
        self.get(path)
        flight = [s for s in self.collect(30) if s.data]
        assert flight, "no data"
        return flight

    def wait_until(self, at_ms):
        d = at_ms - self.now()
        if d > 0:
            time.sleep(d / 1000)

    def icmp_frag_needed(self, about, mtu, seq):
        """ICMP fragmentation needed (RFC 1191) quoting a segment as the stack sent it to us."""
        quoted = bytes(IP(src=self.their_ip, dst=self.my_ip, flags="DF", len=1500)
                       / TCP(sport=self.dport, dport=self.sport, seq=seq, ack=about.ack,
                             flags="A"))[:28]
        self.send(Ether(src=self.my_mac, dst=self.their_mac)
                  / IP(src=self.my_ip, dst=self.their_ip)
                  / ICMP(type=3, code=4, nexthopmtu=mtu)
                  / Raw(quoted))


def rack_window(p, mode):
    """Segment 1 overtakes segment 0. `within`: segment 0 follows 3 ms later; `late`: it never
    does. Returns when (after the SACK) the stack retransmitted segment 0, if it did."""
    flight = p.first_flight("/bytes/12000")
    s0, s1 = flight[0], flight[1]
    p.wait_until(s1.at + RTT_MS)
    p.ecr = s1.tsval
    p.ack(s0.seq, sack=[(s1.seq, s1.end)])
    t_sack = p.now()
    if mode == "within":
        time.sleep(0.003)
        p.ecr = s0.tsval
        p.ack(s1.end)
    rx = None
    for s in p.collect(60, 400):
        if s.seq == s0.seq and s.data and rx is None:
            rx = s
    return {"retransmitted": rx is not None,
            "delta_ms": None if rx is None else rx.at - t_sack,
            "flight": len(flight)}


def dsack(p, _):
    """As `late`, then the original and the retransmission both arrive and the peer says so with a
    DSACK; the next flight's hole is timed again."""
    flight = p.first_flight("/bytes/60000")
    s0, s1 = flight[0], flight[1]
    p.wait_until(s1.at + RTT_MS)
    p.ecr = s1.tsval
    p.ack(s0.seq, sack=[(s1.seq, s1.end)])
    t1 = p.now()
    rx = next((s for s in p.collect(60, 400) if s.seq == s0.seq and s.data), None)
    assert rx is not None, "no retransmission in the first round"
    first = rx.at - t1
    last = flight[-1]
    p.wait_until(rx.at + RTT_MS)
    p.ecr = rx.tsval
    p.ack(last.end, sack=[(s0.seq, s0.end)])  # below the cumulative ACK: a DSACK
    nxt = [s for s in p.collect(30) if s.data and s.seq != s0.seq]
    assert len(nxt) >= 2, f"second flight: {len(nxt)}"
    a, b = nxt[0], nxt[1]
    p.wait_until(b.at + RTT_MS)
    p.ecr = b.tsval
    p.ack(a.seq, sack=[(b.seq, b.end)])
    t2 = p.now()
    rx2 = next((s for s in p.collect(80, 500) if s.seq == a.seq and s.data), None)
    return {"first_ms": first, "second_ms": None if rx2 is None else rx2.at - t2}


def prr(p, _):
    """A 20-segment flight loses its first segment; the rest are SACKed one by one, 3 ms apart.
    Returns how many segments the stack sent after each ACK."""
    flight = p.first_flight("/bytes/400000")
    # Every segment of the first flight acknowledged on its own: slow start to ~20 segments.
    p.wait_until(flight[-1].at + RTT_MS)
    for s in flight:
        p.ecr = s.tsval
        p.ack(s.end)
    second = [s for s in p.collect(30) if s.data]
    n = len(second)
    s0 = second[0]
    p.wait_until(second[-1].at + RTT_MS)
    per_ack = []
    for k in range(1, n):
        p.ecr = second[k].tsval
        p.ack(s0.seq, sack=[(second[1].seq, second[k].end)])
        per_ack.append(len([s for s in p.collect(3, 50) if s.data]))
    return {"flight": n, "per_ack": per_ack}


def tlp(p, _):
    """The whole tail is lost (no ACK at all): when does the first retransmission come, and of
    what?"""
    flight = p.first_flight("/bytes/4000")
    last = flight[-1]
    rx = next((s for s in p.collect(400, 1500) if s.data), None)
    # The probe is the last MSS of data (with the FIN if it follows): it ends where the data does.
    return {"delta_ms": None if rx is None else rx.at - last.at,
            "probe_is_last": rx is not None and rx.seq + len(rx.data) == last.seq + len(last.data),
            "flight": len(flight)}


def frag_needed(p, mode):
    """ICMP fragmentation needed (MTU 1200) quoting a sequence number in flight (`valid`) or far
    outside it (`invalid`); the sizes of the next flight tell whether the MSS changed."""
    flight = p.first_flight("/bytes/100000")
    s0 = flight[0]
    seq = s0.seq if mode == "valid" else (s0.seq + 50_000_000) & 0xFFFFFFFF
    p.icmp_frag_needed(s0, 1200, seq)
    resent = [s for s in p.collect(30) if s.data]
    p.wait_until(flight[-1].at + RTT_MS)
    p.ecr = flight[-1].tsval
    p.ack(max((s.end for s in flight + resent), key=lambda e: (e - s0.seq) & 0xFFFFFFFF))
    nxt = [s for s in p.collect(30) if s.data]
    return {"before": len(s0.data), "resent": [len(s.data) for s in resent],
            "after": [len(s.data) for s in nxt]}


def sws(p, _):
    """Everything acknowledged but the window shrinks to 500 bytes (below an MSS and below half of
    the largest window): sender SWS avoidance holds the data until the override timer."""
    flight = p.first_flight("/bytes/100000")
    p.wait_until(flight[-1].at + RTT_MS)
    p.ecr = flight[-1].tsval
    # Window field 500 >> 7 with our scale of 7 would be 3; the peer's field counts 128-byte
    # units: 4 units = 512 bytes.
    p.ack(flight[-1].end, win=4)
    t = p.now()
    s = next((s for s in p.collect(1500, 1500) if s.data), None)
    return {"delta_ms": None if s is None else s.at - t, "len": None if s is None else len(s.data)}


def close_after(p, _):
    """A whole HTTP/1.0 exchange: the stack answers and closes first, the peer ACKs its FIN and
    sends its own; the stack then holds TIME_WAIT (or not, past its cap)."""
    p.connect()
    p.get("/bytes/100")
    got_fin = None
    segs = p.collect(100, 1500)
    for s in segs:
        if "F" in s.flags:
            got_fin = s
    assert got_fin is not None, "no FIN"
    p.ecr = got_fin.tsval
    p.send(p.frame("FA", p.seq, got_fin.end))
    p.seq += 1
    last = p.recv(500)
    return {"fin": True, "final_ack": last is not None and "A" in last.flags}


SCENARIOS = {"rack_window": rack_window, "dsack": dsack, "prr": prr, "tlp": tlp,
             "frag_needed": frag_needed, "sws": sws, "close_after": close_after}

if __name__ == "__main__":
    name, iface, my_mac, my_ip, their_mac, their_ip, sport = sys.argv[1:8]
    arg = sys.argv[8] if len(sys.argv) > 8 else ""
    peer = Peer(iface, my_mac, my_ip, their_mac, their_ip, int(sport), 80)
    print(json.dumps(SCENARIOS[name](peer, arg)))
