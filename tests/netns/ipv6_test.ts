/**
 * IPv6 on the userspace host with the kernel as its peer: the kernel resolves the stack's
 * addresses by Neighbor Discovery and pings them (global and link-local), the stack resolves the
 * kernel the same way to answer, and malformed IPv6 from a raw socket (truncated, a payload length
 * past the frame, hop-by-hop out of place, too many extension headers, overlapping fragments) is
 * counted while the host keeps answering. The kernel's address is `nodad` so the test does not wait for its DAD.
 *
 *   k1 (10.88.0.1, 2001:db8:88::1) ── br ── TAP ── lb.ts stack (10.88.0.2, 2001:db8:88::2)
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { netnsTest } from "./topology.ts";

const STACK_MAC = "02:00:5e:88:00:02";
const STACK_LL = "fe80::5eff:fe88:2"; // modified EUI-64 of STACK_MAC (RFC 4291 appendix A)

netnsTest(
  "IPv6: DAD, then the kernel pings the stack by NDP (global, link-local); bad IPv6 counted",
  async (t) => {
    const hub = await t.netns("hub");
    const k1 = await t.netns("k1");
    const br = await t.bridge(hub, "br");
    const k1Mac = await t.attach(k1, hub, br, "eth0", "10.88.0.1/24");
    await t.execOk(k1, ["ip", "-6", "addr", "add", "2001:db8:88::1/64", "dev", "eth0", "nodad"]);
    const tap = await t.tap(hub, br);
    const control = t.tempPath("v6.sock");
    const pcap = t.tempPath("v6.pcap");
    const host = t.lb(hub, [
      "stack",
      "--pcap",
      pcap,
      "--tap",
      tap,
      "--ip",
      "10.88.0.2/24",
      "--ip",
      "2001:db8:88::2/64",
      "--mac",
      STACK_MAC,
      "--control",
      control,
    ], [`--allow-write=${pcap}`]);
    await host.waitFor("up on", 30_000);
    // Duplicate address detection (RFC 4862): both addresses are tentative for a second.
    const counters = () => t.counters(control);
    for (let i = 0; i < 50 && ((await counters())["nd.dad_passed"] ?? 0) < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assertEquals((await counters())["nd.dad_passed"], 2, "the global and link-local addresses");
    const ping = await t.exec(k1, [
      "ping",
      "-6",
      "-c",
      "3",
      "-i",
      "0.2",
      "-W",
      "2",
      "2001:db8:88::2",
    ]);
    assertMatch(ping.stdout, /3 packets transmitted, 3 received/, ping.stdout + ping.stderr);
    const ll = await t.exec(k1, [
      "ping",
      "-6",
      "-c",
      "2",
      "-i",
      "0.2",
      "-W",
      "2",
      `${STACK_LL}%eth0`,
    ]);
    assertMatch(ll.stdout, /2 packets transmitted, 2 received/, ll.stdout + ll.stderr);
    const neigh = await t.execOk(k1, ["ip", "-6", "neigh", "show", "dev", "eth0"]);
    assertMatch(neigh, new RegExp(`2001:db8:88::2 lladdr ${STACK_MAC}`), neigh);
    // The stack pings the kernel (lb.ts ping through the control socket), printed like ping -6.
    const out = await t.lbRun([
      "ping",
      "-c",
      "2",
      "-i",
      "0.2",
      "--control",
      control,
      "2001:db8:88::1",
    ]);
    assertEquals(out.code, 0, out.stdout + out.stderr);
    assertMatch(out.stdout, /^PING 2001:db8:88::1\(2001:db8:88::1\) 56 data bytes$/m);
    assertMatch(out.stdout, /^64 bytes from 2001:db8:88::1: icmp_seq=1 ttl=64 time=/m);
    assertMatch(out.stdout, /2 packets transmitted, 2 received, 0% packet loss/);
    // Its routes, like route -n -A inet6: the configured prefix and the link-local one.
    const routes = await t.lbRun(["route", "-6", "--control", control]);
    assertEquals(routes.code, 0, routes.stderr);
    assertMatch(routes.stdout, /^2001:db8:88::\/64 +:: +U +256 /m);
    assertMatch(routes.stdout, /^fe80::\/64 +:: +U +256 /m);
    // And the stack's own cache, like ip -6 neigh: the kernel's address with its MAC.
    const ours = await t.lbRun(["neigh", "--control", control]);
    assertEquals(ours.code, 0, ours.stderr);
    assertMatch(ours.stdout, new RegExp(`^2001:db8:88::1 dev ${tap} lladdr ${k1Mac} [A-Z]+$`, "m"));

    // Malformed IPv6 from a raw socket (scapy): the host counts it and keeps answering.
    const script = `
import socket
from scapy.all import Ether, IPv6, ICMPv6EchoRequest, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, Raw
eth = bytes(Ether(dst="${STACK_MAC}", src="${k1Mac}", type=0x86dd))
ok = IPv6(src="2001:db8:88::1", dst="2001:db8:88::2")/ICMPv6EchoRequest()
frames = []
frames += [eth + bytes(ok)[:30]] * 2                        # truncated
bad_len = bytearray(bytes(ok)); bad_len[5] = 200
frames += [eth + bytes(bad_len)] * 3                        # payload length past the frame
hbh_late = IPv6(src="2001:db8:88::1", dst="2001:db8:88::2")/IPv6ExtHdrDestOpt()/IPv6ExtHdrHopByHop()/ICMPv6EchoRequest()
frames += [eth + bytes(hbh_late)] * 4                       # hop-by-hop not first
many = IPv6(src="2001:db8:88::1", dst="2001:db8:88::2")
for _ in range(10):
    many = many/IPv6ExtHdrDestOpt()
frames += [eth + bytes(many/ICMPv6EchoRequest())] * 5       # too many extension headers
from scapy.all import IPv6ExtHdrFragment, UDP
udp = bytes(UDP(sport=4000, dport=7)/Raw(b"x" * 2000))
first = IPv6(src="2001:db8:88::1", dst="2001:db8:88::2")/IPv6ExtHdrFragment(nh=17, offset=0, m=1, id=77)/Raw(udp[:1232])
overlap = IPv6(src="2001:db8:88::1", dst="2001:db8:88::2")/IPv6ExtHdrFragment(nh=17, offset=1224 // 8, m=0, id=77)/Raw(udp[1224:])
frames += [eth + bytes(first), eth + bytes(overlap)]        # overlapping fragments (RFC 5722)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for f in frames:
    s.send(f)
print(len(frames))
`;
    assertEquals((await t.execOk(k1, ["/usr/bin/python3", "-c", script], 60_000)).trim(), "16");
    const again = await t.exec(k1, [
      "ping",
      "-6",
      "-c",
      "2",
      "-i",
      "0.2",
      "-W",
      "2",
      "2001:db8:88::2",
    ]);
    assertMatch(again.stdout, /2 packets transmitted, 2 received/);
    const c = await t.counters(control);
    assertEquals(c["drop.ipv6_truncated"], 2, JSON.stringify(c));
    assertEquals(c["drop.ipv6_bad_payload_length"], 3, JSON.stringify(c));
    assertEquals(c["drop.ipv6_hop_by_hop_not_first"], 4, JSON.stringify(c));
    assertEquals(c["drop.ipv6_ext_chain_too_long"], 5, JSON.stringify(c));
    assertEquals(c["drop.frag6_overlap"], 1, JSON.stringify(c));
    assertEquals(c["ipv6.reassembled"] ?? 0, 0, JSON.stringify(c));
    assert(
      (c["nd.ns_answered"] ?? 0) >= 1 && (c["icmpv6.echo_requests"] ?? 0) >= 7,
      JSON.stringify(c),
    );

    // Neighbor Discovery as the stack's own capture saw it (RFC 4861, RFC 4862): the DAD probe
    // from ::, the unsolicited advertisement once the address is in use (7.2.6: override, not
    // solicited), and the solicited answer to the kernel's solicitation.
    await host.stop();
    const nd = await t.execOk(hub, ["tcpdump", "-r", pcap, "-nn", "-v", "icmp6"], 60_000);
    const has = (re: RegExp, what: string) => assert(re.test(nd), `${what}:\n${nd}`);
    has(/:: > ff02::1:ff00:2: .*neighbor solicitation, length 24, who has 2001:db8:88::2/, "DAD");
    has(
      /2001:db8:88::2 > ff02::1: .*neighbor advertisement.*tgt is 2001:db8:88::2, Flags \[override\]/,
      "unsolicited NA",
    );
    has(
      /2001:db8:88::2 > 2001:db8:88::1: .*neighbor advertisement.*tgt is 2001:db8:88::2, Flags \[solicited, override\]/,
      "solicited NA",
    );
  },
);
