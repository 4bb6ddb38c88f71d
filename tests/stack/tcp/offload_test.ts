/**
 * TCP over a device with offloads (stack/link/offload.ts, stack/tcp/tso.ts), on in-memory
 * devices that carry virtio-net metadata like a TAP with IFF_VNET_HDR:
 *
 * - receive: a super-frame is ACKed at once and its gso_size, not its length, becomes the
 *   estimate of the peer's segment size (so plain segments after it are ACKed every second one);
 * - send: data leaves in super-frames (whole MSS multiples, half the window at most) with a
 *   NEEDS_CSUM/TCPV4 header and a partial checksum that, completed as the kernel does, equals the
 *   checksum from scratch; `tso: false` keeps plain frames;
 * - loss: a dropped super-frame is retransmitted and the transfer completes exactly, with SACK
 *   and with NewReno.
 */
import { assert, assertEquals } from "../../assert.ts";
import { DeviceDecorator } from "../../../stack/link/decorator.ts";
import type { Device, FrameHandler } from "../../../stack/link/device.ts";
import { createMemoryPair } from "../../../stack/link/memory.ts";
import {
  clearOffload,
  completePartialChecksum,
  type FrameOffload,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_TCPV4,
} from "../../../stack/link/offload.ts";
import { Stack } from "../../../stack/net/stack.ts";
import type { TcpStackOptions } from "../../../stack/tcp/config.ts";
import { checksum, r16 } from "../net/_frames.ts";
import { openPassive } from "./_handshake.ts";
import { A, B, pattern, readAll, writeAll } from "./_pair.ts";
import { ACK, buildFrame, Peer, PSH, type Seg } from "./_peer.ts";

const MSS_TS = 1448; // 1460 less the timestamp option

/** Sets `o` as the kernel describes a TCP/IPv4 super-frame of `gsoSize`-byte segments. */
function superFrameMeta(o: FrameOffload, gsoSize: number): void {
  o.flags = VNET_F_NEEDS_CSUM;
  o.gsoType = VNET_GSO_TCPV4;
  o.hdrLen = 14 + 20 + 32;
  o.gsoSize = gsoSize;
  o.csumStart = 34;
  o.csumOffset = 16;
}

/** Puts the partial checksum (folded pseudo-header sum) in a frame built by buildFrame. */
function makePartial(f: Uint8Array): void {
  const tcpLen = f.length - 34;
  let s = 0x0a00 + 0x0002 + 0x0a00 + 0x0001 + 6 + tcpLen; // REMOTE -> LOCAL
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  f[50] = s >>> 8;
  f[51] = s & 0xff;
}

/** The TCP checksum of a captured frame from scratch (pseudo-header, field zeroed). */
function textbookTcp(f: Uint8Array): number {
  const tcpLen = r16(f, 16) - 20;
  const p = new Uint8Array(12 + tcpLen);
  p.set(f.subarray(26, 34), 0);
  p[9] = 6;
  p[10] = tcpLen >>> 8;
  p[11] = tcpLen & 0xff;
  p.set(f.subarray(34, 34 + tcpLen), 12);
  p[28] = 0;
  p[29] = 0;
  return checksum(p);
}

Deno.test("a received super-frame is ACKed at once; its gso_size is the peer's MSS", async () => {
  const p = new Peer({}, { offload: true });
  try {
    const o = await openPassive(p);
    p.take();
    const data = pattern(45 * MSS_TS, 3);
    const seg: Seg = {
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: o.localSeq,
      flags: ACK | PSH,
      win: 1000,
      ts: [102, 0],
      data,
    };
    const f = buildFrame(seg, p.dev.mac);
    makePartial(f);
    superFrameMeta(p.dev.rxOffload!, MSS_TS);
    const before = p.stack.counters.get("tcp.rx_segments");
    p.stack.input(f, 0, f.length);
    // No flush yet: the ACK left while the frame was handled.
    const ack = p.one();
    assertEquals(ack.ack, o.peerSeq + data.length);
    assertEquals(p.stack.counters.get("tcp.rx_segments") - before, 45, "counted as 45 segments");
    assertEquals(p.stack.counters.get("drop.tcp_bad_checksum"), 0, "partial checksum trusted");
    assertEquals(o.conn.tcb.ackPolicy.rcvMss, MSS_TS, "gso_size, not the 65160-byte length");
    const got = new Uint8Array(data.length);
    assertEquals(await o.conn.read(got), data.length);
    assertEquals(got, data);
    // The read emptied the ring, whose window the peer had mostly used: a window update.
    await p.settle();
    assertEquals(p.take().map((x) => x.ack), [o.peerSeq + data.length]);
    // Plain segments after it: one full segment waits, the second is ACKed (RFC 5681 4.2).
    clearOffload(p.dev.rxOffload!);
    let seq = o.peerSeq + data.length;
    const plain = (n: number) => {
      p.send({ ...seg, seq, ts: [103, 0], data: pattern(n, seq) });
      seq += n;
    };
    plain(MSS_TS);
    assertEquals(p.take().length, 0, "one full-sized segment: delayed");
    plain(MSS_TS);
    assertEquals(p.one().ack, seq, "the second full-sized segment is ACKed");
  } finally {
    p.close();
  }
});

Deno.test("TSO: data leaves in super-frames with a vnet header and a partial checksum", async () => {
  // Plain slow start: HyStart++ would cap one ACK's growth at 8 segments (RFC 9406 4.3).
  const p = new Peer({ hystart: false }, { offload: true, capture: true });
  try {
    const o = await openPassive(p);
    p.take();
    p.dev.takeSent();
    p.dev.takeSentOffload();
    const data = pattern(200_000, 9);
    await o.conn.write(data);
    await p.settle();
    // IW = 10 MSS (RFC 6928): two super-frames of half the window each.
    let frames = p.dev.takeSent();
    let meta = p.dev.takeSentOffload();
    assertEquals(frames.map((f) => f.length), [2, 2].map(() => 14 + 20 + 32 + 5 * MSS_TS));
    let seq = o.localSeq;
    let off = 0;
    const check = (f: Uint8Array, m: FrameOffload) => {
      assertEquals(m, {
        flags: VNET_F_NEEDS_CSUM,
        gsoType: VNET_GSO_TCPV4,
        hdrLen: 14 + 20 + 32,
        gsoSize: MSS_TS,
        csumStart: 34,
        csumOffset: 16,
      });
      assertEquals(r16(f, 16), f.length - 14, "IPv4 total length: the whole super-frame");
      assertEquals(f[20] & 0x40, 0x40, "DF");
      assertEquals(checksum(f, 14, 20), 0, "the IPv4 header checksum is complete");
      assertEquals(r16(f, 34 + 4) * 65536 + r16(f, 34 + 6), seq);
      const payload = f.subarray(14 + 20 + 32);
      assertEquals(payload, data.subarray(off, off + payload.length));
      const done = f.slice();
      assert(completePartialChecksum(done, 0, done.length, m));
      assertEquals(r16(done, 50), textbookTcp(f), "completed = from scratch");
      seq += payload.length;
      off += payload.length;
    };
    for (let i = 0; i < frames.length; i++) check(frames[i], meta[i]);
    // An ACK of everything: slow start doubles cwnd, the frames double too.
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: seq,
      flags: ACK,
      win: 1000,
      ts: [102, 0],
    });
    frames = p.dev.takeSent();
    meta = p.dev.takeSentOffload();
    assertEquals(frames.map((f) => f.length - 66), [10 * MSS_TS, 10 * MSS_TS]);
    for (let i = 0; i < frames.length; i++) check(frames[i], meta[i]);
    assertEquals(p.stack.counters.get("tcp.tso_frames"), 4);
    assertEquals(p.stack.counters.get("link.tx_gso"), 4);
  } finally {
    p.close();
  }
});

Deno.test("tso: false on a device with offloads sends plain, fully checksummed frames", async () => {
  const p = new Peer({ tso: false }, { offload: true, capture: true });
  try {
    const o = await openPassive(p);
    p.dev.takeSent();
    p.dev.takeSentOffload();
    await o.conn.write(pattern(50_000, 2));
    await p.settle();
    const frames = p.dev.takeSent();
    const meta = p.dev.takeSentOffload();
    assertEquals(frames.length, 10);
    for (let i = 0; i < frames.length; i++) {
      assertEquals(frames[i].length, 66 + MSS_TS);
      assertEquals(meta[i].flags | meta[i].gsoType, 0);
      assertEquals(r16(frames[i], 50), textbookTcp(frames[i]));
    }
  } finally {
    p.close();
  }
});

/** Drops the `n`-th super-frame sent (a lossy link: the sender believes it left). */
class DropSuperFrame extends DeviceDecorator {
  #seen = 0;
  dropped = 0;
  constructor(inner: Device, readonly n: number) {
    super(inner);
  }
  send(buf: Uint8Array, off: number, len: number, offload: FrameOffload | null = null): boolean {
    if (offload !== null && offload.gsoType !== 0 && ++this.#seen === this.n) {
      this.dropped++;
      return true;
    }
    return this.inner.send(buf, off, len, offload);
  }
  run(onFrame: FrameHandler, onIdle?: () => void): Promise<void> {
    return this.inner.run(onFrame, onIdle);
  }
  close(): void {
    this.inner.close();
  }
}

async function lossyTransfer(tcp: TcpStackOptions, dropAt: number): Promise<void> {
  const [devA, devB] = createMemoryPair({ offload: true, queueLength: 256 });
  const lossy = new DropSuperFrame(devA, dropAt);
  const a = new Stack({ device: lossy, address: A, prefix: 24, tcp });
  const b = new Stack({ device: devB, address: B, prefix: 24, tcp });
  const runs = [a.start(), b.start()];
  try {
    const l = b.listen({ port: 9 });
    const data = pattern(4_000_000, 11);
    const received = (async () => {
      const c = await l.accept();
      const got = await readAll(c);
      c.close();
      return got;
    })();
    const c = await a.connect({ hostname: "10.0.0.2", port: 9 });
    await writeAll(c, data);
    await c.closeWrite();
    const got = await received;
    assertEquals(got.length, data.length);
    assertEquals(got, data);
    c.close();
    l.close();
    assertEquals(lossy.dropped, 1);
    assert(a.counters.get("tcp.tso_frames") > 10, "super-frames sent");
    assert(a.counters.get("tcp.retransmits") > 0, "the lost frame's data was sent again");
    assert(b.counters.get("link.rx_gso") > 10, "super-frames arrived whole");
    assertEquals(b.counters.get("drop.tcp_bad_checksum"), 0);
  } finally {
    a.close();
    b.close();
    await Promise.all(runs);
  }
}

Deno.test("a lost super-frame is retransmitted; 4 MB arrive exactly (SACK)", async () => {
  await lossyTransfer({}, 5);
});

Deno.test("a lost super-frame is retransmitted; 4 MB arrive exactly (NewReno, no SACK)", async () => {
  await lossyTransfer({ sack: false, congestion: "newreno" }, 7);
});

Deno.test("a lost super-frame is retransmitted; 4 MB arrive exactly (no timestamps)", async () => {
  await lossyTransfer({ timestamps: false }, 3);
});
