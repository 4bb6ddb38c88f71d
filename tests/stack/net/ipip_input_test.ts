/**
 * A TUN real server's side: IP-in-IP decapsulation (RFC 2003) and a VIP held without ARP (like
 * Linux's VIP on tunl0/lo with arp_ignore=1), on a Stack driven frame by frame.
 */
import { assert, assertEquals } from "../../assert.ts";
import { FakeClock } from "../../../stack/clock.ts";
import { Stack } from "../../../stack/net/stack.ts";
import { arp, CaptureDevice, concat, eth, ip, ipv4, mac, pattern, r32, udp } from "./_frames.ts";

const US = ip("10.0.0.21");
const US_MAC = mac("02:00:00:00:00:15");
const LB = ip("10.0.0.1");
const LB_MAC = mac("02:00:00:00:00:01");
const CLIENT = ip("10.0.0.50");
const VIP = ip("10.0.0.100");
const BCAST = mac("ff:ff:ff:ff:ff:ff");

function setup() {
  const dev = new CaptureDevice(US_MAC);
  const stack = new Stack({ device: dev, address: US, prefix: 24, clock: new FakeClock(0) });
  stack.arp.addStatic(LB, LB_MAC);
  stack.arp.addStatic(CLIENT, mac("02:00:00:00:00:32"));
  const got: { src: number; dst: number; len: number }[] = [];
  stack.udp.bind(7, (buf, ipOff, _len, v) => {
    got.push({ src: r32(buf, ipOff + 12), dst: r32(buf, ipOff + 16), len: v.payloadLen });
  });
  return { dev, stack, got };
}

function tunnelled(inner: Uint8Array, outerDst = US): Uint8Array {
  const outer = ipv4({ src: LB, dst: outerDst, protocol: 4 }, inner);
  return concat(eth(US_MAC, LB_MAC, 0x0800), outer);
}

function inject(stack: Stack, f: Uint8Array) {
  stack.input(f, 0, f.length);
}

Deno.test("IP-in-IP to us is decapsulated and the inner datagram delivered to a no-ARP VIP", () => {
  const { dev, stack, got } = setup();
  stack.addAddress(VIP, { arp: false });
  stack.acceptIpip();
  const inner = ipv4(
    { src: CLIENT, dst: VIP, protocol: 17 },
    udp(CLIENT, VIP, 5000, 7, pattern(30)),
  );
  inject(stack, tunnelled(inner));
  assertEquals(got, [{ src: CLIENT, dst: VIP, len: 30 }]);
  assertEquals(stack.counters.get("ipip.rx_decapsulated"), 1);
  // An inner datagram for an address we do not hold is not delivered.
  const stray = ipv4(
    { src: CLIENT, dst: ip("10.0.0.99"), protocol: 17 },
    udp(CLIENT, ip("10.0.0.99"), 1, 7, pattern(4)),
  );
  inject(stack, tunnelled(stray));
  assertEquals(got.length, 1);
  assertEquals(stack.counters.get("drop.not_for_us"), 1);
  assertEquals(dev.take().length, 0);
});

Deno.test("fragmented inner datagrams are reassembled after decapsulation", () => {
  const { stack, got } = setup();
  stack.addAddress(VIP, { arp: false });
  stack.acceptIpip();
  const whole = udp(CLIENT, VIP, 5001, 7, pattern(2000));
  const first = ipv4(
    { src: CLIENT, dst: VIP, protocol: 17, id: 9, mf: true },
    whole.subarray(0, 1480),
  );
  const second = ipv4(
    { src: CLIENT, dst: VIP, protocol: 17, id: 9, offset: 1480 },
    whole.subarray(1480),
  );
  inject(stack, tunnelled(first));
  inject(stack, tunnelled(second));
  assertEquals(got, [{ src: CLIENT, dst: VIP, len: 2000 }]);
});

Deno.test("nested tunnels are dropped; without acceptIpip protocol 4 is unreachable", () => {
  const { dev, stack, got } = setup();
  stack.addAddress(VIP, { arp: false });
  const inner = ipv4(
    { src: CLIENT, dst: VIP, protocol: 17 },
    udp(CLIENT, VIP, 5002, 7, pattern(8)),
  );
  inject(stack, tunnelled(inner));
  assertEquals(got.length, 0);
  const sent = dev.take();
  assertEquals([sent.length, sent[0][34], sent[0][35]], [1, 3, 2]); // protocol unreachable
  stack.acceptIpip();
  const nested = ipv4({ src: LB, dst: US, protocol: 4 }, inner);
  inject(stack, tunnelled(nested));
  assertEquals(got.length, 0);
  assertEquals(stack.counters.get("drop.ipip_nested"), 1);
  stack.acceptIpip(false);
  inject(stack, tunnelled(inner));
  assertEquals(got.length, 0);
});

Deno.test("a VIP added with arp: false is neither answered nor announced in ARP", async () => {
  const { dev, stack } = setup();
  stack.addAddress(VIP, { arp: false });
  assert(stack.hasAddress(VIP));
  assert(!stack.answersArp(VIP));
  assert(stack.answersArp(US));
  const ask = (target: number) =>
    inject(
      stack,
      concat(
        eth(BCAST, mac("02:00:00:00:00:32"), 0x0806),
        arp(1, mac("02:00:00:00:00:32"), CLIENT, new Uint8Array(6), target),
      ),
    );
  ask(VIP);
  assertEquals(dev.take().length, 0);
  ask(US);
  assertEquals(dev.take().length, 1);
  // The balancer's gratuitous ARP for the VIP is not a conflict for us.
  inject(stack, concat(eth(BCAST, LB_MAC, 0x0806), arp(1, LB_MAC, VIP, new Uint8Array(6), VIP)));
  assertEquals(stack.counters.get("arp.conflict"), 0);
  // start() announces the interface address only.
  const run = stack.start();
  const announced = dev.take().map((f) => r32(f, 28));
  stack.close();
  await run;
  assertEquals(announced, [US]);
});
