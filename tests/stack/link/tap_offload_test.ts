/**
 * A TAP opened with `offload: true` (IFF_VNET_HDR + TUNSETOFFLOAD) against the kernel: the
 * interface's features turn on (ethtool), a kernel TCP sender's super-frames arrive whole with
 * their virtio-net header (TCPV4, partial checksum at csum_start 34 / offset 16) and complete to
 * a correct checksum, a userspace Stack on the device receives the data exactly, and closing the
 * device turns the offloads off again on a persistent TAP, so a plain reader never gets one.
 * Needs root; everything is made with a per-run suffix and removed in `finally`.
 */
import { assert, assertEquals } from "../../assert.ts";
import { DeviceDecorator } from "../../../stack/link/decorator.ts";
import type { FrameHandler } from "../../../stack/link/device.ts";
import {
  completePartialChecksum,
  type FrameOffload,
  newFrameOffload,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_TCPV4,
} from "../../../stack/link/offload.ts";
import { TapDevice } from "../../../stack/link/tap.ts";
import { Stack } from "../../../stack/net/stack.ts";
import { parseIpv4 } from "../../../stack/wire/address.ts";
import { run as sh, runOk as must } from "../../netns/topology.ts";
import type { Cmd } from "../../programs.ts";
import { rootTapMissing, testNeeding } from "../../requires.ts";

/** "on"/"off" of the ethtool -k feature `name` of `ifname` (in namespace `ns` when given). */
async function feature(ns: string | null, ifname: string, name: string): Promise<string> {
  const ethtool: Cmd = ["ethtool", "-k", ifname];
  const out = await must(ns === null ? ethtool : ["ip", "netns", "exec", ns, ...ethtool]);
  const m = new RegExp(`^${name}: (on|off)`, "m").exec(out);
  return m === null ? "?" : m[1];
}

function suffix(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(3)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/** Records, for the first frames larger than the MTU, what a partial checksum completes to. */
class Spy extends DeviceDecorator {
  superFrames = 0;
  meta: FrameOffload | null = null;
  checksumsOk = 0;
  readonly #copy = new Uint8Array(70_000);

  run(onFrame: FrameHandler, onIdle?: () => void): Promise<void> {
    const rx = this.inner.rxOffload as FrameOffload;
    return this.inner.run((buf, off, len) => {
      if (rx.gsoType !== 0) {
        this.superFrames++;
        if (this.meta === null) this.meta = { ...rx };
        if (len > this.inner.mtu + 14 && (rx.flags & VNET_F_NEEDS_CSUM) !== 0) {
          // Complete a copy and verify it from scratch: pseudo-header + segment sums to 0xffff.
          const c = this.#copy;
          c.set(buf.subarray(off, off + len));
          assert(completePartialChecksum(c, 0, len, rx));
          const ipLen = (c[16] << 8) | c[17];
          let s = 0;
          for (const o of [26, 28, 30, 32]) s += (c[o] << 8) | c[o + 1];
          s += 6 + ipLen - 20;
          for (let i = 34; i < 14 + ipLen; i += 2) {
            s += (c[i] << 8) | (i + 1 < 14 + ipLen ? c[i + 1] : 0);
          }
          while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
          if (s === 0xffff) this.checksumsOk++;
        }
      }
      onFrame(buf, off, len);
    }, onIdle);
  }

  send(buf: Uint8Array, off: number, len: number, offload: FrameOffload | null = null): boolean {
    return this.inner.send(buf, off, len, offload);
  }

  close(): void {
    this.inner.close();
  }
}

testNeeding(rootTapMissing, {
  name:
    `tap offload: kernel TCP super-frames arrive whole with their header; offloads reset on close`,
  async fn() {
    const id = suffix();
    const name = `lbo${id}`;
    const ns = `lbons${id}`;
    const net = `10.${(parseInt(id.slice(0, 2), 16) % 250) + 1}.${parseInt(id.slice(2, 4), 16)}`;
    let dev: TapDevice | null = null;
    let stack: Stack | null = null;
    let running: Promise<void> | null = null;
    let nsCreated = false;
    try {
      await must(["ip", "tuntap", "add", "mode", "tap", "name", name]);
      assertEquals(await feature(null, name, "tcp-segmentation-offload"), "off");
      dev = TapDevice.open({ name, offload: true });
      assertEquals(dev.offloadFlags, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
      assertEquals(dev.rxOffload, newFrameOffload());
      assertEquals(await feature(null, name, "tcp-segmentation-offload"), "on");
      assertEquals(await feature(null, name, "tx-checksumming"), "on");
      await must(["ip", "netns", "add", ns]);
      nsCreated = true;
      await must(["ip", "link", "set", name, "netns", ns]);
      await must(["ip", "-n", ns, "addr", "add", `${net}.1/24`, "dev", name]);
      await must(["ip", "-n", ns, "link", "set", name, "up"]);

      const spy = new Spy(dev);
      stack = new Stack({ device: spy, address: parseIpv4(`${net}.2`)!, prefix: 24 });
      const listener = stack.listen({ port: 9 });
      let received = 0;
      const sink = (async () => {
        const conn = await listener.accept();
        const b = new Uint8Array(1 << 16);
        for (let i = 0; i < 100_000; i++) {
          const n = await conn.read(b);
          if (n === null) break;
          for (let j = 0; j < n; j++) if (b[j] !== 0x61) throw new Error("corrupt byte");
          received += n;
        }
        conn.close();
      })();
      running = stack.start();
      const bytes = 8 << 20;
      const r = await sh([
        "ip",
        "netns",
        "exec",
        ns,
        "sh",
        "-c",
        `head -c ${bytes} /dev/zero | tr '\\0' a | nc -N -w 5 ${net}.2 9`,
      ], 30_000);
      assertEquals(r.code, 0, r.stderr);
      await sink;
      assertEquals(received, bytes);
      assert(spy.superFrames > 0, "the kernel sent super-frames");
      const m = spy.meta!;
      assertEquals([m.gsoType, m.csumStart, m.csumOffset], [VNET_GSO_TCPV4, 34, 16]);
      assert((m.flags & VNET_F_NEEDS_CSUM) !== 0, `flags ${m.flags}`);
      assert(m.gsoSize > 500 && m.gsoSize <= 1460, `gso_size ${m.gsoSize}`);
      assert(spy.checksumsOk > 0, "completed partial checksums verify");
      assertEquals(stack.counters.get("drop.tcp_bad_checksum"), 0);
      listener.close();
      stack.close();
      await running;
      running = null;
      stack = null;
      dev = null;
      assertEquals(
        await feature(ns, name, "tcp-segmentation-offload"),
        "off",
        "closing turned the offloads off on the persistent TAP",
      );
      // A plain open of the same persistent TAP has none either.
      await must(["ip", "-n", ns, "link", "set", name, "netns", "1"]);
      const plain = TapDevice.open({ name, offload: false });
      assertEquals(plain.offloadFlags, 0);
      assertEquals(plain.rxOffload, undefined);
      plain.close();
    } finally {
      stack?.close();
      dev?.close();
      if (running !== null) await running;
      if (nsCreated) await sh(["ip", "netns", "del", ns]);
      await sh(["ip", "link", "del", name]);
    }
  },
});
