import { assert, assertEquals, assertMatch } from "../../assert.ts";
import { own, startProgram } from "../../programs.ts";
import { createMemoryPair } from "../../../stack/link/memory.ts";
import {
  LINKTYPE_ETHERNET,
  PCAP_MAGIC,
  PcapDevice,
  type PcapSink,
  PcapWriter,
} from "../../../stack/link/pcap.ts";

const MAC_A = [0x02, 0, 0, 0, 0, 0x01];
const MAC_B = [0x02, 0, 0, 0, 0, 0x02];

/** RFC 1071 one's-complement sum of `b[off .. off+len)`, folded and complemented. */
function cksum(b: Uint8Array, off: number, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i += 2) sum += (b[off + i] << 8) | (i + 1 < len ? b[off + i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** ARP request (RFC 826): who-has 10.0.0.2 tell 10.0.0.1, from MAC_A, 42 bytes. */
function arpRequest(): Uint8Array {
  return new Uint8Array([
    ...[0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ...MAC_A,
    0x08,
    0x06, // ethertype ARP
    0x00,
    0x01,
    0x08,
    0x00,
    6,
    4,
    0x00,
    0x01, // Ethernet/IPv4, request
    ...MAC_A,
    10,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    10,
    0,
    0,
    2,
  ]);
}

/** ICMP echo request 10.0.0.1 -> 10.0.0.2, id 1, seq 1, 56 payload bytes (98-byte frame). */
function icmpEcho(): Uint8Array {
  const f = new Uint8Array(98);
  f.set([...MAC_B, ...MAC_A, 0x08, 0x00]);
  f.set([0x45, 0, 0, 84, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 14);
  const ip = cksum(f, 14, 20);
  f[24] = ip >> 8;
  f[25] = ip & 0xff;
  f.set([8, 0, 0, 0, 0, 1, 0, 1], 34);
  for (let i = 0; i < 56; i++) f[42 + i] = i;
  const ic = cksum(f, 34, 64);
  f[36] = ic >> 8;
  f[37] = ic & 0xff;
  return f;
}

interface Rec {
  sec: number;
  usec: number;
  incl: number;
  orig: number;
  data: Uint8Array;
}

/** Parses a little-endian classic pcap file. */
function parsePcap(bytes: Uint8Array): { header: number[]; records: Rec[] } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header = [
    v.getUint32(0, true),
    v.getUint16(4, true),
    v.getUint16(6, true),
    v.getInt32(8, true),
    v.getUint32(12, true),
    v.getUint32(16, true),
    v.getUint32(20, true),
  ];
  const records: Rec[] = [];
  let o = 24;
  while (o < bytes.length) {
    const incl = v.getUint32(o + 8, true);
    records.push({
      sec: v.getUint32(o, true),
      usec: v.getUint32(o + 4, true),
      incl,
      orig: v.getUint32(o + 12, true),
      data: bytes.slice(o + 16, o + 16 + incl),
    });
    o += 16 + incl;
  }
  return { header, records };
}

/** A sink that keeps everything and counts writeSync calls. */
class MemorySink implements PcapSink {
  chunks: Uint8Array[] = [];
  calls = 0;
  closed = false;
  writeSync(p: Uint8Array): number {
    this.calls++;
    this.chunks.push(p.slice());
    return p.length;
  }
  close(): void {
    this.closed = true;
  }
  bytes(): Uint8Array {
    const total = this.chunks.reduce((n, c) => n + c.length, 0);
    const out = new Uint8Array(total);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

Deno.test("pcap: a file with an ARP request and an ICMP echo reads back, and tcpdump shows them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lbts-pcap-" });
  try {
    const path = `${dir}/two.pcap`;
    const w = PcapWriter.open(path);
    const buf = new Uint8Array(200);
    buf.set(arpRequest(), 7); // from inside a larger buffer, at an offset
    w.write(buf, 7, 42, 1700000000123.456);
    w.write(icmpEcho(), 0, 98, 1700000001000);
    w.close();
    w.close(); // idempotent

    const { header, records } = parsePcap(await Deno.readFile(path));
    assertEquals(header, [PCAP_MAGIC, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET]);
    assertEquals(records.length, 2);
    assertEquals(records[0], {
      sec: 1700000000,
      usec: 123456,
      incl: 42,
      orig: 42,
      data: arpRequest(),
    });
    assertEquals(records[1], { sec: 1700000001, usec: 0, incl: 98, orig: 98, data: icmpEcho() });

    const out = await startProgram(["tcpdump", "-r", path, "-nn", "-e", "-v"], {
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    const lines = text.trim().split("\n");
    assertMatch(
      lines[0],
      /02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP \(0x0806\), length 42: .*Request who-has 10\.0\.0\.2 tell 10\.0\.0\.1/,
    );
    assertMatch(
      text,
      /02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 \(0x0800\), length 98/,
    );
    assertMatch(text, /10\.0\.0\.1 > 10\.0\.0\.2: ICMP echo request, id 1, seq 1, length 64/);
    assert(!/wrong|bad cksum/.test(text), `tcpdump found a bad checksum:\n${text}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pcap: writes are buffered: 100 small frames cost one write at close", () => {
  const sink = new MemorySink();
  const w = new PcapWriter(sink);
  for (let i = 0; i < 100; i++) w.write(icmpEcho(), 0, 98, 1000 * i);
  assertEquals(sink.calls, 0);
  w.close();
  assertEquals(sink.calls, 1);
  assert(sink.closed);
  assertEquals(w.frames, 100);
  const { records } = parsePcap(sink.bytes());
  assertEquals(records.length, 100);
  assertEquals(records[99].sec, 99);
  w.write(icmpEcho(), 0, 98); // after close: ignored
  assertEquals(sink.calls, 1);
});

Deno.test("pcap: large volumes flush in chunks of at most 64 KiB and stay parseable", () => {
  const sink = new MemorySink();
  const w = new PcapWriter(sink);
  const big = new Uint8Array(1514);
  for (let i = 0; i < 200; i++) {
    big[0] = i;
    w.write(big, 0, big.length, i);
  }
  w.close();
  assert(sink.calls > 1 && sink.calls < 10, `${sink.calls} writes`);
  for (const c of sink.chunks) assert(c.length <= 64 * 1024);
  const { records } = parsePcap(sink.bytes());
  assertEquals(records.length, 200);
  assertEquals(records.map((r) => r.data[0]), Array.from({ length: 200 }, (_, i) => i));
});

Deno.test("pcap: a frame beyond the snaplen is cut to 65535 bytes, original length kept", () => {
  const sink = new MemorySink();
  const w = new PcapWriter(sink);
  const huge = new Uint8Array(70000);
  huge[65534] = 0x5a;
  w.write(huge, 0, huge.length, 0);
  w.write(arpRequest(), 0, 42, 0);
  w.close();
  const { records } = parsePcap(sink.bytes());
  assertEquals(records.length, 2);
  assertEquals(records[0].incl, 65535);
  assertEquals(records[0].orig, 70000);
  assertEquals(records[0].data[65534], 0x5a);
  assertEquals(records[1].data, arpRequest());
});

Deno.test("pcap: a failing sink stops recording instead of throwing", () => {
  const origError = console.error;
  console.error = () => {};
  try {
    const w = new PcapWriter({
      writeSync(): number {
        throw new Error("disk full");
      },
      close() {},
    });
    w.write(icmpEcho(), 0, 98);
    w.flush();
    w.write(icmpEcho(), 0, 98);
    w.close();
    assert(w.error instanceof Error);
  } finally {
    console.error = origError;
  }
});

Deno.test("pcap: PcapDevice records frames in and out and completes the file on close", async () => {
  const sink = new MemorySink();
  const [a, b] = createMemoryPair({ macA: new Uint8Array(MAC_A), macB: new Uint8Array(MAC_B) });
  const dev = new PcapDevice(a, new PcapWriter(sink));
  assertEquals(dev.name, a.name);
  assertEquals(dev.mac, a.mac);
  assertEquals(dev.mtu, a.mtu);
  let received = 0;
  const done = dev.run(() => received++);
  // b answers every frame it gets with the ICMP echo frame.
  const peer = b.run(() => b.send(icmpEcho(), 0, 98));
  assert(dev.send(arpRequest(), 0, 42));
  assert(!dev.send(new Uint8Array(5), 0, 5), "dropped sends are not recorded");
  const end = performance.now() + 2000;
  while (received < 1 && performance.now() < end) await new Promise((r) => setTimeout(r, 1));
  assertEquals(received, 1);
  assertEquals(sink.calls, 0, "nothing written before close (buffered)");
  dev.close();
  b.close();
  await Promise.all([done, peer]);
  assert(sink.closed);
  const { records } = parsePcap(sink.bytes());
  assertEquals(records.map((r) => r.data), [arpRequest(), icmpEcho()]);
  assertEquals(dev.stats.txFrames, 1);
  assertEquals(dev.stats.rxFrames, 1);
});

Deno.test("pcap: without --allow-write the error says which flag to pass", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lbts-pcap-" });
  try {
    const script = `${dir}/open.ts`;
    const mod = new URL("../../../stack/link/pcap.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { PcapWriter } from "${mod}";\n` +
        `try { PcapWriter.open("${dir}/x.pcap"); } catch (e) { console.log(String(e)); }\n`,
    );
    const out = await startProgram(
      [
        own(Deno.execPath()),
        ...["run", "--no-prompt", "--no-config", `--allow-read=${dir},${mod.slice(7)}`, script],
      ],
      { stdout: "piped" },
    ).output();
    const text = new TextDecoder().decode(out.stdout);
    assertMatch(
      text,
      /DeviceError: cannot write the pcap file .*x\.pcap: not permitted; run with --allow-write=.*x\.pcap/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
