/**
 * A TUN real server's side for IPv6: IPv6-in-IPv6 decapsulation (RFC 2473) to a VIP held
 * without Neighbor Discovery, on a Stack driven frame by frame.
 */
import { assertEquals } from "../../assert.ts";
import { FakeClock } from "../../../stack/clock.ts";
import { Stack } from "../../../stack/net/stack.ts";
import { acceptIpv6Tunnel } from "../../../stack/net/ipv6_tunnel_input.ts";
import { parseIpv6 } from "../../../stack/wire/address6.ts";
import { CaptureDevice, concat, eth, frag6, ipv6, mac, udp6 } from "./_frames.ts";

const US = parseIpv6("2001:db8::21")!;
const US_MAC = mac("02:00:00:00:00:15");
const LB = parseIpv6("2001:db8::1")!;
const LB_MAC = mac("02:00:00:00:00:01");
const CLIENT = parseIpv6("2001:db8:1::50")!;
const VIP = parseIpv6("2001:db8::100")!;

function setup() {
  const dev = new CaptureDevice(US_MAC);
  const stack = new Stack({
    device: dev,
    address: 0x0a000015,
    prefix: 24,
    clock: new FakeClock(0),
    ipv6: ["2001:db8::21/64"],
    dad: false,
  });
  const ip6 = stack.ipv6!;
  ip6.addAddress(VIP, 128, { nd: false });
  acceptIpv6Tunnel(ip6, stack.counters);
  const got: { dst: string; len: number }[] = [];
  stack.udp.bind6(7, (buf, ipOff, _end, v) => {
    got.push({
      dst: Array.from(buf.subarray(ipOff + 24, ipOff + 40)).join("."),
      len: v.payloadLen,
    });
  });
  return { dev, stack, got };
}

const inner = (data: Uint8Array) =>
  ipv6({ src: CLIENT, dst: VIP, nh: 17 }, udp6(CLIENT, VIP, 5000, 7, data));
const tunnelled = (packet: Uint8Array, nh = 41) =>
  concat(eth(US_MAC, LB_MAC, 0x86dd), ipv6({ src: LB, dst: US, nh }, packet));

function inject(stack: Stack, f: Uint8Array) {
  stack.input(f, 0, f.length);
}

Deno.test("IPv6-in-IPv6 to us is decapsulated and delivered to the VIP held without ND", () => {
  const { stack, got } = setup();
  inject(stack, tunnelled(inner(new Uint8Array(100))));
  assertEquals(got, [{ dst: Array.from(VIP).join("."), len: 100 }]);
  const c = stack.counters.snapshot();
  assertEquals(c["ip6tnl.rx_decapsulated"], 1);
  // An inner fragment is copied out and reassembled like any other.
  const body = udp6(CLIENT, VIP, 5000, 7, new Uint8Array(64));
  const frags = [
    frag6(17, 0, true, 9, body.subarray(0, 40)),
    frag6(17, 40, false, 9, body.subarray(40)),
  ];
  for (const f of frags) {
    inject(stack, tunnelled(ipv6({ src: CLIENT, dst: VIP, nh: 44 }, f)));
  }
  assertEquals(got.length, 2);
  assertEquals(got[1].len, 64);
});

Deno.test("nested tunnels and a bad inner packet are dropped and counted", () => {
  const { stack, got } = setup();
  const nested = ipv6({ src: LB, dst: US, nh: 41 }, inner(new Uint8Array(8)));
  inject(stack, tunnelled(nested));
  inject(stack, tunnelled(new Uint8Array(20)));
  assertEquals(got.length, 0);
  const c = stack.counters.snapshot();
  assertEquals([c["drop.ip6tnl_nested"], c["drop.ip6tnl_bad_inner"]], [1, 1]);
});
