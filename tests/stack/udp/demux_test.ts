import assert from "node:assert/strict";
import { Counters } from "../../../stack/net/counters.ts";
import { UdpDemux, type UdpHost } from "../../../stack/udp/demux.ts";
import { ip, ipv4, udp } from "../net/_frames.ts";

const SRC = ip("192.0.2.1");
const DST = ip("192.0.2.2");

function setup() {
  const errors: [number, number, number][] = [];
  const host: UdpHost = {
    counters: new Counters(),
    sendIcmpError(type, code, _rest, _buf, _ipOff, ipLen) {
      errors.push([type, code, ipLen]);
      return true;
    },
  };
  return { host, errors, demux: new UdpDemux(host) };
}

Deno.test("UdpDemux: bind, dispatch by port, unbind", () => {
  const { host, errors, demux } = setup();
  const got: string[] = [];
  demux.bind(5353, (buf, _ipOff, _ipLen, v) => {
    got.push(
      new TextDecoder().decode(buf.subarray(v.payloadOffset, v.payloadOffset + v.payloadLen)),
    );
  });
  demux.bind(9, () => got.push("discard"));
  assert.deepEqual(demux.ports(), [9, 5353]);
  assert.ok(demux.isBound(9));
  const p = ipv4(
    { src: SRC, dst: DST, protocol: 17 },
    udp(SRC, DST, 1000, 5353, new TextEncoder().encode("hi")),
  );
  // At an offset with trailing bytes past the IP packet: only the packet counts.
  const buf = new Uint8Array(p.length + 10);
  buf.set(p, 4);
  demux.input(buf, 4, p.length);
  assert.deepEqual(got, ["hi"]);
  assert.equal(host.counters.get("udp.rx_delivered"), 1);
  assert.ok(demux.unbind(5353));
  assert.ok(!demux.unbind(5353));
  demux.input(buf, 4, p.length);
  assert.deepEqual(errors, [[3, 3, p.length]]);
  assert.equal(host.counters.get("drop.udp_no_port"), 1);
});

Deno.test("UdpDemux: malformed datagrams dropped by reason", () => {
  const { host, demux } = setup();
  demux.bind(7, () => assert.fail("must not be delivered"));
  const short = ipv4({ src: SRC, dst: DST, protocol: 17 }, new Uint8Array(7));
  demux.input(short, 0, short.length);
  const d = udp(SRC, DST, 1, 7, new Uint8Array(4));
  d[5] = 200; // length field beyond the IP payload
  const long = ipv4({ src: SRC, dst: DST, protocol: 17 }, d);
  demux.input(long, 0, long.length);
  const bad = udp(SRC, DST, 1, 7, new Uint8Array(4));
  bad[8] = 1; // payload changed after the checksum
  const badSum = ipv4({ src: SRC, dst: DST, protocol: 17 }, bad);
  demux.input(badSum, 0, badSum.length);
  assert.deepEqual(host.counters.snapshot(), {
    "drop.udp_bad_checksum": 1,
    "drop.udp_bad_length": 1,
    "drop.udp_truncated": 1,
  });
});

Deno.test("UdpDemux: port range and double bind refused", () => {
  const { demux } = setup();
  assert.throws(() => demux.bind(0, () => {}), RangeError);
  assert.throws(() => demux.bind(65536, () => {}), RangeError);
  demux.bind(1, () => {});
  assert.throws(() => demux.bind(1, () => {}), /already bound/);
});
