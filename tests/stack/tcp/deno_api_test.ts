/**
 * The stack's TCP API as a Deno program sees it: Deno's option names and defaults, Deno's error
 * classes where Deno throws them, `AbortSignal` on connect, `ref()`/`unref()` deciding whether
 * the program stays alive, and the fast "No route to host" when ARP gets no answer.
 */
import { assert, assertEquals, assertMatch, assertRejects } from "../../assert.ts";
import { own, startProgram } from "../../programs.ts";
import { FakeClock } from "../../../stack/clock.ts";
import { createMemoryDevice } from "../../../stack/link/memory.ts";
import { Stack } from "../../../stack/net/stack.ts";
import { readAll, startPair } from "./_pair.ts";

Deno.test("connect: no hostname means Deno's 127.0.0.1: this stack, through its loopback", async () => {
  const p = startPair();
  try {
    // Nothing listens: the stack's own RST refuses it at once, as the kernel's loopback does.
    const e = await assertRejects(() => p.b.connect({ port: 80 }));
    assert(e instanceof Deno.errors.ConnectionRefused, String(e));
    const l = p.b.listen({ port: 80 });
    const echo = (async () => {
      for await (const c of l) c.readable.pipeTo(c.writable).catch(() => {});
    })();
    for (const hostname of [undefined, "localhost", "127.0.0.1", "10.0.0.2"]) {
      const c = await p.b.connect({ hostname, port: 80 });
      const local = hostname === "10.0.0.2" ? "10.0.0.2" : "127.0.0.1";
      assertEquals([c.localAddr.hostname, c.remoteAddr.hostname], [local, local]);
      const data = new Uint8Array(300_000).map((_, i) => i * 7);
      const [, back] = await Promise.all([
        (async () => {
          let off = 0;
          while (off < data.length) off += await c.write(data.subarray(off));
          await c.closeWrite();
        })(),
        readAll(c),
      ]);
      assertEquals(back, data);
      c.close();
    }
    // 127/8 never leaves the host: the other stack cannot reach this one's loopback listener.
    p.b.listen({ port: 81, hostname: "127.0.0.1" });
    const far = await assertRejects(() =>
      p.a.connect({ hostname: "127.0.0.1", port: 81, timeoutMs: 300 })
    );
    assert(far instanceof Deno.errors.ConnectionRefused, String(far));
    assert(p.b.counters.get("loopback.rx_packets") > 100);
    l.close();
    await echo;
  } finally {
    await p.close();
  }
});

Deno.test("connect before start(): NotConnected at once, not a hang", async () => {
  const stack = new Stack({ device: createMemoryDevice(), address: 0x0a000002, prefix: 24 });
  try {
    const e = await assertRejects(() => stack.connect({ hostname: "10.0.0.1", port: 80 }));
    assert(e instanceof Deno.errors.NotConnected, String(e));
    assertMatch(e.message, /not started/);
  } finally {
    stack.close();
  }
});

Deno.test("connect: an aborted signal rejects with its reason, before and during the handshake", async () => {
  // A lone device: ARP for 10.0.0.1 is never answered, so the handshake would wait.
  const stack = new Stack({ device: createMemoryDevice(), address: 0x0a000002, prefix: 24 });
  const run = stack.start();
  try {
    const before = new AbortController();
    before.abort(new Error("cancelled early"));
    const e1 = await assertRejects(() =>
      stack.connect({ hostname: "10.0.0.1", port: 80, signal: before.signal })
    );
    assertEquals(e1.message, "cancelled early");

    const during = new AbortController();
    const started = performance.now();
    const pending = stack.connect({ hostname: "10.0.0.1", port: 80, signal: during.signal });
    setTimeout(() => during.abort(), 50);
    const e2 = await assertRejects(() => pending);
    assertEquals((e2 as Error).name, "AbortError");
    assert(performance.now() - started < 2000, "the abort ends the handshake at once");
    assertEquals(stack.tcpSnapshot().length, 0, "the half-open connection is gone");
  } finally {
    stack.close();
    await run;
  }
});

/**
 * A connect to an on-link `hostname` that never answers resolution (ARP, or Neighbor Discovery
 * for IPv6: RFC 4861 7.3.3) fails with "No route to host" once resolution gives up, as Linux's
 * EHOSTUNREACH: three requests a second apart, 3 s; the message names `shown`.
 */
async function unreachableNeighbor(hostname: string, shown: RegExp, ipv6?: string[]) {
  const clock = new FakeClock(1000);
  const stack = new Stack({
    device: createMemoryDevice(),
    address: 0x0a000002,
    prefix: 24,
    ...(ipv6 === undefined ? {} : { ipv6, dad: false }),
    clock,
    tickMs: 3_600_000, // ticks are driven by the test
  });
  const run = stack.start();
  try {
    let settled: unknown = undefined;
    const pending = stack.connect({ hostname, port: 80 });
    pending.catch((e) => settled = e);
    for (let s = 0; s < 2; s++) {
      clock.advance(1000);
      stack.tick();
      await Promise.resolve();
      assertEquals(settled, undefined, `still resolving after ${s + 1} s`);
    }
    clock.advance(1000);
    stack.tick();
    const e = await assertRejects(() => pending);
    assert(e instanceof Deno.errors.NetworkUnreachable, String(e));
    assertMatch(e.message, shown);
    assertEquals(stack.counters.get("tcp.connect_host_unreachable"), 1);
  } finally {
    stack.close();
    await run;
  }
}

Deno.test("connect: an on-link peer that never answers ARP fails with No route to host after ~3 s", async () => {
  await unreachableNeighbor("10.0.0.9", /No route to host.*10\.0\.0\.9:80/);
});

Deno.test("connect: an IPv6 neighbor that never answers fails with No route to host after ~3 s", async () => {
  await unreachableNeighbor("2001:db8:7::9", /No route to host.*\[2001:db8:7::9\]:80/, [
    "2001:db8:7::2/64",
  ]);
});

/** Runs `body` as a program after a stack on an in-memory cable was started; its exit status. */
async function runScript(body: string): Promise<{ code: number; out: string; ms: number }> {
  const dir = await Deno.makeTempDir({ prefix: "lbts-ref-" });
  try {
    const script = `${dir}/ref.ts`;
    const stackUrl = new URL("../../../stack/net/stack.ts", import.meta.url).href;
    const memUrl = new URL("../../../stack/link/memory.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { Stack } from "${stackUrl}";\nimport { createMemoryPair } from "${memUrl}";\n` +
        `const [da, db] = createMemoryPair();\n` +
        `const a = new Stack({ device: da, address: 0x0a000001, prefix: 24 });\n` +
        `const b = new Stack({ device: db, address: 0x0a000002, prefix: 24 });\n` +
        `a.start(); b.start();\n` +
        // The watchdog does not keep the program alive itself: it fires only if something else does.
        `Deno.unrefTimer(setTimeout(() => { console.log("still alive"); Deno.exit(3); }, 1500));\n` +
        body,
    );
    const started = performance.now();
    const out = await startProgram(
      [own(Deno.execPath()), "run", "--no-prompt", "--no-config", script],
      { stdout: "piped" },
    ).output();
    return {
      code: out.code,
      out: new TextDecoder().decode(out.stdout).trim(),
      ms: performance.now() - started,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("ref/unref: an unref()ed stack lets the program end; a referenced accept() keeps it", async () => {
  // Referenced (the default): the stacks' loops keep the program until the watchdog.
  assertEquals((await runScript(``)).code, 3);
  // Both stacks unref()ed: nothing is left, the program ends at once.
  const done = await runScript(`a.unref(); b.unref(); console.log("main done");\n`);
  assertEquals([done.code, done.out], [0, "main done"]);
  // A waiting accept() on a referenced listener keeps an unref()ed stack alive (as Deno's).
  const waiting = await runScript(`a.unref(); b.unref(); a.listen({ port: 80 }).accept();\n`);
  assertEquals([waiting.code, waiting.out], [3, "still alive"]);
  // ... until the listener is unref()ed too.
  const unrefed = await runScript(
    `a.unref(); b.unref(); const l = a.listen({ port: 80 }); l.unref(); l.accept();\n`,
  );
  assertEquals(unrefed.code, 0);
  // A connection's pending read() likewise, until conn.unref().
  const conn = `a.unref(); b.unref(); a.listen({ port: 80 });\n` +
    `const c = await b.connect({ hostname: "10.0.0.1", port: 80 });\n`;
  assertEquals((await runScript(conn + `c.read(new Uint8Array(8));\n`)).code, 3);
  assertEquals((await runScript(conn + `c.unref(); c.read(new Uint8Array(8));\n`)).code, 0);
});
