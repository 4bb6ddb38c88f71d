import { assert, assertEquals, assertMatch, assertThrows } from "../../assert.ts";
import { DeviceError } from "../../../stack/link/errors.ts";
import { checkInterfaceName, TapDevice } from "../../../stack/link/tap.ts";
import { run as sh, runOk as must } from "../../netns/topology.ts";
import { own, startProgram } from "../../programs.ts";
import { rootTapMissing, testNeeding } from "../../requires.ts";

const decoder = new TextDecoder();

/** A per-run suffix: 6 random hex characters. */
function suffix(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(3)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

interface LinkInfo {
  ifname: string;
  flags: string[];
  mtu: number;
}

async function linkInfo(name: string, ns?: string): Promise<LinkInfo | null> {
  const r = await sh(
    ns === undefined ? ["ip", "-j", "link", "show", name] : [
      "ip",
      "-n",
      ns,
      "-j",
      "link",
      "show",
      name,
    ],
  );
  if (r.code !== 0) return null;
  return (JSON.parse(r.stdout) as LinkInfo[])[0];
}

function ip4(b: Uint8Array, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

/** RFC 1071 checksum of `b[off .. off+len)`. */
function cksum(b: Uint8Array, off: number, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i += 2) sum += (b[off + i] << 8) | (i + 1 < len ? b[off + i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

Deno.test("tap: names longer than 15 bytes, empty or with '/' are refused with a clear error", () => {
  const e = assertThrows(() => TapDevice.open({ name: "lbt-name-too-long" }), DeviceError);
  assertEquals(
    e.message,
    'interface name "lbt-name-too-long" is too long (17 bytes; at most 15); ' +
      "pick a name of at most 15 characters, e.g. lb0",
  );
  assert(checkInterfaceName("") !== null);
  assert(checkInterfaceName("a/b") !== null);
  assert(checkInterfaceName("a b") !== null);
  assertEquals(checkInterfaceName("lbt0123456789ab"), null, "15 bytes is the limit");
  assertThrows(() => TapDevice.open({ name: "lbt0", mtu: 20 }), DeviceError);
  assertThrows(() => TapDevice.open({ name: "lbt0", mac: new Uint8Array(5) }), DeviceError);
});

Deno.test("tap: a missing device is not created unless asked; the error says how", () => {
  const name = `lbx${suffix()}`;
  for (const options of [{ name, create: false }, { name }]) {
    const e = assertThrows(() => TapDevice.open(options), DeviceError);
    assertMatch(e.message, new RegExp(`no network device named ${name}: ENODEV.*ip tuntap add`));
  }
});

testNeeding(rootTapMissing, {
  name: `tap: the kernel's ARP and ping reach the device, and our replies reach the kernel`,
  async fn() {
    const id = suffix();
    const name = `lbt${id}`;
    const ns = `lbtns${id}`;
    const net = `10.${(parseInt(id.slice(0, 2), 16) % 250) + 1}.${parseInt(id.slice(2, 4), 16)}`;
    const ourIp = [10, ...net.split(".").slice(1).map(Number), 2];
    const stackMac = new Uint8Array([0x02, 0x1b, 0x7a, 0x00, 0x00, 0x02]);
    let dev: TapDevice | null = null;
    let running: Promise<void> | null = null;
    let nsCreated = false;
    try {
      dev = TapDevice.open({ name, mtu: 1400, mac: stackMac, create: true });
      assertEquals(dev.name, name);
      assertEquals(dev.mtu, 1400);
      assertEquals(dev.mac, stackMac);
      const info = await linkInfo(name);
      assert(info !== null, "the TAP exists");
      assert(info.flags.includes("UP"), `flags ${info.flags}`);
      assertEquals(info.mtu, 1400);

      // A single-queue TAP has one reader: a second open of the same name is refused.
      const busy = assertThrows(() => TapDevice.open({ name }), DeviceError) as DeviceError;
      assertMatch(busy.message, /EBUSY.*already attached to another process/);

      // Move the kernel side into a fresh namespace; our fd keeps working.
      await must(["ip", "netns", "add", ns]);
      nsCreated = true;
      await must(["ip", "link", "set", name, "netns", ns]);
      await must(["ip", "-n", ns, "addr", "add", `${net}.1/24`, "dev", name]);
      await must(["ip", "-n", ns, "link", "set", name, "up"]);

      const arpRequests: Uint8Array[] = [];
      let echoRequests = 0;
      const out = new Uint8Array(1600);
      const d = dev;
      running = dev.run((buf, off, len) => {
        const type = (buf[off + 12] << 8) | buf[off + 13];
        if (type === 0x0806 && len >= 42 && buf[off + 21] === 1) {
          arpRequests.push(buf.slice(off, off + len));
          if (ip4(buf, off + 38) !== ourIp.join(".")) return;
          // ARP reply (RFC 826): we are ourIp at stackMac.
          out.set(buf.subarray(off + 6, off + 12), 0); // to the asker
          out.set(stackMac, 6);
          out.set([0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 2], 12);
          out.set(stackMac, 22);
          out.set(ourIp, 28);
          out.set(buf.subarray(off + 22, off + 32), 32); // asker's MAC and IP
          d.send(out, 0, 42);
        } else if (
          type === 0x0800 && buf[off + 23] === 1 && buf[off + 34] === 8 &&
          ip4(buf, off + 30) === ourIp.join(".")
        ) {
          echoRequests++;
          // ICMP echo reply (RFC 792): swap addresses, type 0, new checksum.
          out.set(buf.subarray(off, off + len), 0);
          out.set(buf.subarray(off + 6, off + 12), 0);
          out.set(stackMac, 6);
          out.set(buf.subarray(off + 30, off + 34), 26);
          out.set(buf.subarray(off + 26, off + 30), 30);
          const ihl = (buf[off + 14] & 0x0f) * 4;
          const icmp = 14 + ihl;
          const icmpLen = ((buf[off + 16] << 8) | buf[off + 17]) - ihl;
          out[icmp] = 0;
          out[icmp + 2] = 0;
          out[icmp + 3] = 0;
          const c = cksum(out, icmp, icmpLen);
          out[icmp + 2] = c >> 8;
          out[icmp + 3] = c & 0xff;
          d.send(out, 0, len);
        }
      });

      const ping = await sh(["ip", "netns", "exec", ns, "ping", "-c", "2", "-W", "1", `${net}.2`]);
      assertEquals(ping.code, 0, `ping failed:\n${ping.stdout}${ping.stderr}`);
      assertMatch(ping.stdout, /2 packets transmitted, 2 received/);

      // The kernel's ARP request, byte by byte: broadcast, ethertype 0x0806, who-has .2 tell .1.
      assert(arpRequests.length >= 1, "no ARP request from the kernel");
      const arp = arpRequests.find((f) => ip4(f, 38) === ourIp.join(".")) as Uint8Array;
      assert(arp !== undefined, "no ARP request for our address");
      assertEquals(Array.from(arp.subarray(0, 6)), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
      assertEquals([arp[12], arp[13]], [0x08, 0x06]);
      assertEquals(Array.from(arp.subarray(14, 22)), [0, 1, 8, 0, 6, 4, 0, 1]);
      assertEquals(ip4(arp, 28), `${net}.1`);
      assertEquals(echoRequests, 2);
      assert(dev.stats.rxFrames >= 3);
      assert(dev.stats.txFrames >= 3, `tx ${dev.stats.txFrames}`);
      assertEquals(dev.stats.txDropped, 0);

      // Frames the device refuses are counted, not thrown.
      assert(!dev.send(new Uint8Array(1419), 0, 1419), "mtu + 19 is too long");
      assertEquals(dev.stats.txDropped, 1);

      dev.close();
      dev.close(); // idempotent
      await running;
      running = null;
      assertEquals(await linkInfo(name, ns), null, "a non-persistent TAP goes away on close");
      assert(!dev.send(out, 0, 60), "send after close is a drop");
    } finally {
      dev?.close();
      if (running !== null) await running;
      if (nsCreated) await sh(["ip", "netns", "del", ns]);
      if (await linkInfo(name) !== null) await sh(["ip", "link", "del", name]);
    }
  },
});

testNeeding(rootTapMissing, {
  name: `tap: attaching to a persistent TAP works and leaves it; a TUN of that name is refused`,
  async fn() {
    const id = suffix();
    const tap = `lbp${id}`;
    const tun = `lbu${id}`;
    try {
      await must(["ip", "tuntap", "add", "dev", tap, "mode", "tap"]);
      await must(["ip", "link", "set", tap, "mtu", "1300"]);
      const dev = TapDevice.open({ name: tap, create: false });
      assertEquals(dev.mtu, 1300, "the MTU in force is read when none is given");
      const frames = dev.run(() => {});
      dev.close();
      await frames;
      assert(await linkInfo(tap) !== null, "a persistent TAP stays after close");

      await must(["ip", "tuntap", "add", "dev", tun, "mode", "tun"]);
      const e = assertThrows(() => TapDevice.open({ name: tun }), DeviceError);
      assertMatch(e.message, /EINVAL.*exists but is not a TAP with matching flags/);
    } finally {
      for (const n of [tap, tun]) {
        if (await linkInfo(n) !== null) await sh(["ip", "link", "del", n]);
      }
    }
  },
});

/** The frames of a pcap file (tcpdump -w; native byte order, as tcpdump writes it). */
function pcapFrames(file: Uint8Array): Uint8Array[] {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const le = v.getUint32(0, true) === 0xa1b2c3d4;
  const frames: Uint8Array[] = [];
  for (let o = 24; o + 16 <= file.length;) {
    const incl = v.getUint32(o + 8, le);
    frames.push(file.slice(o + 16, o + 16 + incl));
    o += 16 + incl;
  }
  return frames;
}

testNeeding(rootTapMissing, {
  name: `tap: send() writes the bytes at any offset, view or small array (plain and vnet)`,
  async fn() {
    // send() passes write() an address it caches per (buffer, offset) (tap.ts #ptrAt): every
    // frame must still be the caller's bytes at that moment, whatever the view's byteOffset,
    // after the four-entry cache has cycled, and for a small array V8 may keep on its heap.
    for (const offload of [false, true]) {
      const id = suffix();
      const name = `lbs${id}`;
      const ns = `lbsns${id}`;
      const pcap = await Deno.makeTempFile({ prefix: "lbts-tap-send-", suffix: ".pcap" });
      let dev: TapDevice | null = null;
      let nsCreated = false;
      let dump: Deno.ChildProcess | null = null;
      try {
        dev = TapDevice.open({ name, offload, create: true });
        await must(["ip", "netns", "add", ns]);
        nsCreated = true;
        await must(["ip", "link", "set", name, "netns", ns]);
        await must([
          "ip",
          "netns",
          "exec",
          ns,
          "sysctl",
          "-qw",
          "net.ipv6.conf.all.disable_ipv6=1",
        ]);
        await must(["ip", "-n", ns, "link", "set", name, "up"]);

        const big = new Uint8Array(4096);
        const view = big.subarray(333); // byteOffset 333: not word aligned
        const sent: Uint8Array[] = [];
        // A local experimental EtherType (IEEE 802 0x88b5): the kernel ignores the frames.
        const frame = (at: Uint8Array, off: number, len: number, seq: number) => {
          at.fill(0xff, off, off + 6);
          at.set([0x02, 0, 0, 0, 0, 0x09, 0x88, 0xb5], off + 6);
          for (let i = 14; i < len; i++) at[off + i] = (seq * 31 + i) & 0xff;
          sent.push(at.slice(off, off + len));
          return len;
        };
        const cases: [Uint8Array, number][] = [
          [big, 0],
          [big, 7],
          [view, 5],
          [big, 1013],
          [view, 0],
          [big, 64], // five distinct (buffer, offset) pairs: the four-entry cache has cycled
          [big, 0], // and these come back after eviction, with new bytes at the same place
          [view, 5],
        ];
        const want = cases.length + 3;
        dump = startProgram(
          [
            "ip",
            "netns",
            "exec",
            ns,
            "tcpdump",
            "-i",
            name,
            "-U",
            "-n",
            "-c",
            String(want),
            "-w",
            pcap,
            "ether",
            "proto",
            "0x88b5",
          ],
          { stdout: "null", stderr: "piped", signal: AbortSignal.timeout(15_000) },
        );
        // tcpdump says "listening on" once its capture is open.
        const reader = dump.stderr.getReader();
        let said = "";
        while (!said.includes("listening on")) {
          const r = await reader.read();
          if (r.done) throw new Error(`tcpdump ended: ${said}`);
          said += decoder.decode(r.value);
        }
        reader.releaseLock();

        let seq = 0;
        for (const [at, off] of cases) {
          assert(dev.send(at, off, frame(at, off, 60 + seq, seq)), `case ${seq}`);
          seq++;
        }
        // Small arrays (64 bytes or less may live on V8's heap), each new.
        for (let i = 0; i < 3; i++) {
          const small = new Uint8Array(64);
          assert(dev.send(small, 2, frame(small, 2, 60, seq)), `small ${i}`);
          seq++;
        }
        const status = await dump.status;
        dump = null;
        assert(status.success, `tcpdump exit ${status.code}`);
        const got = pcapFrames(await Deno.readFile(pcap));
        assertEquals(got.length, sent.length);
        for (let i = 0; i < sent.length; i++) {
          assertEquals(Array.from(got[i]), Array.from(sent[i]), `frame ${i} (offload ${offload})`);
        }
        assertEquals(dev.stats.txFrames, sent.length);
        assertEquals(dev.stats.txDropped, 0);
      } finally {
        if (dump !== null) {
          try {
            dump.kill("SIGTERM");
          } catch {
            // already ended
          }
          await dump.status;
        }
        dev?.close();
        if (nsCreated) await sh(["ip", "netns", "del", ns]);
        await Deno.remove(pcap).catch(() => {});
      }
    }
  },
});

testNeeding(rootTapMissing, {
  name: "tap: a stack on a TAP keeps the program alive until unref(): then it ends",
  async fn() {
    const name = `lbu${suffix()}`;
    const dir = await Deno.makeTempDir({ prefix: "lbts-tap-unref-" });
    try {
      const script = `${dir}/unref.ts`;
      const tapUrl = new URL("../../../stack/link/tap.ts", import.meta.url).href;
      const stackUrl = new URL("../../../stack/net/stack.ts", import.meta.url).href;
      await Deno.writeTextFile(
        script,
        `import { TapDevice } from "${tapUrl}";\nimport { Stack } from "${stackUrl}";\n` +
          `const stack = new Stack({ device: TapDevice.open({ name: "${name}", create: true }), ` +
          `address: 0x0a630002, prefix: 24 });\n` +
          `stack.start();\n` +
          `Deno.unrefTimer(setTimeout(() => { console.log("still alive"); Deno.exit(3); }, 1500));\n` +
          `if (Deno.args[0] === "unref") stack.unref();\n`,
      );
      const run = async (arg: string) => {
        const started = performance.now();
        const out = await startProgram(
          [own(Deno.execPath()), "run", "-A", "--no-config", script, arg],
          { stdout: "piped" },
        ).output();
        return { code: out.code, ms: performance.now() - started };
      };
      // Referenced (the default): the receive loop's poll() holds the program.
      assertEquals((await run("ref")).code, 3);
      // unref(): the loop waits on unreferenced timers; the program ends by itself.
      const ended = await run("unref");
      assertEquals(ended.code, 0);
      assert(ended.ms < 1500 + 5000, `ended after ${ended.ms} ms`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
