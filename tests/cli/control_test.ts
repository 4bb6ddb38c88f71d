import { assert, assertEquals, assertMatch, assertRejects, assertThrows } from "../assert.ts";
import { ControlError, controlRequest } from "../../cli/control/client.ts";
import {
  encodeResponse,
  LineReader,
  parseRequest,
  parseResponse,
} from "../../cli/control/protocol.ts";
import { ControlServer } from "../../cli/control/server.ts";
import { unixAddress } from "../../cli/control/unix_socket.ts";
import { DeviceError } from "../../stack/link/errors.ts";
import { AF_UNIX, libc, SOCK_STREAM } from "../../stack/sys/libc.ts";
import { testNeeding } from "../requires.ts";

const ffiMissing = (await Deno.permissions.query({ name: "ffi" })).state === "granted"
  ? null
  : "needs --allow-ffi";

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lbts-ctl-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Reads from `conn` until `count` newline-terminated lines arrived (bounded in time). */
async function readLines(conn: Deno.UnixConn, count: number, timeoutMs = 3000): Promise<string[]> {
  const lines = new LineReader();
  const out: string[] = [];
  const buf = new Uint8Array(4096);
  const deadline = performance.now() + timeoutMs;
  while (out.length < count) {
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`only ${out.length} of ${count} lines in time`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.read(buf),
      new Promise<"timeout">((r) => {
        timer = setTimeout(() => r("timeout"), left);
      }),
    ]);
    clearTimeout(timer);
    if (n === "timeout" || n === null) break;
    lines.push(buf, n);
    for (let l = lines.next(); l !== null; l = lines.next()) out.push(l);
  }
  return out;
}

Deno.test("control protocol: requests and responses parse, bad input is a reason", () => {
  assertEquals(parseRequest('{"cmd":"arp","all":true}'), { cmd: "arp", all: true });
  assertEquals(parseRequest("{nope"), "request is not valid JSON");
  assertEquals(parseRequest("[1]"), "request must be a JSON object");
  assertEquals(parseRequest('{"cmd":3}'), 'request needs a "cmd" string');
  assertEquals(encodeResponse({ ok: true, result: { n: 5n } }), '{"ok":true,"result":{"n":"5"}}\n');
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assertMatch(encodeResponse({ ok: true, result: cyclic }), /^\{"ok":false,"error":"result could/);
  assertEquals(parseResponse('{"ok":false,"error":"x"}'), { ok: false, error: "x" });
  assertEquals(parseResponse('{"ok":true}'), { ok: true, result: undefined });
  assertEquals(typeof parseResponse('{"ok":false}'), "string");
});

Deno.test("control protocol: LineReader splits lines and enforces the bound", () => {
  const r = new LineReader(8);
  const enc = new TextEncoder();
  const push = (s: string) => {
    const b = enc.encode(s);
    return r.push(b, b.length);
  };
  assert(push('{"a"'));
  assertEquals(r.next(), null);
  assert(!r.hasLine);
  assert(push(":1}\r\nxy\n"));
  assert(r.hasLine);
  assertEquals(r.next(), '{"a":1}');
  assertEquals(r.next(), "xy");
  assertEquals(r.next(), null);
  assert(!r.hasLine);
  assert(push("12345678"), "8 bytes of an unfinished line fit");
  assert(!push("9"), "the 9th does not");
  const r2 = new LineReader(4);
  assert(!r2.push(enc.encode("123456\n"), 7), "a complete line over the bound is refused too");
});

testNeeding(ffiMissing, {
  name: `control: request/response end to end over the Unix socket`,
  async fn() {
    await withTempDir(async (dir) => {
      const path = `${dir}/ctl.sock`;
      const server = ControlServer.listen(path, async (req) => {
        if (req.cmd === "fail") throw new Error("no such table");
        if (req.cmd === "slow") await new Promise((r) => setTimeout(r, 50));
        return { cmd: req.cmd, args: req, counter: 12345678901234567890n };
      });
      try {
        assert((await Deno.lstat(path)).isSocket);
        assertEquals(await controlRequest(path, { cmd: "arp", x: 1 }), {
          cmd: "arp",
          args: { cmd: "arp", x: 1 },
          counter: "12345678901234567890",
        });
        const err = await assertRejects(() => controlRequest(path, { cmd: "fail" }));
        assert(err instanceof ControlError);
        assertEquals(err.message, "no such table");
        // Concurrent clients are all served.
        const many = await Promise.all(
          Array.from({ length: 10 }, (_, i) => controlRequest(path, { cmd: i % 2 ? "slow" : "q" })),
        );
        assertEquals(many.map((m) => (m as { cmd: string }).cmd), [
          ..."q slow q slow q slow q slow q slow".split(" "),
        ]);
      } finally {
        server.close();
        await server.done;
      }
      // close() removes the socket file.
      await assertRejects(() => Deno.lstat(path));
      const gone = await assertRejects(() => controlRequest(path, { cmd: "arp" }));
      assertEquals(
        gone.message,
        `no running instance at ${path} (start one with \`lb.ts stack ...\` or pass --control PATH)`,
      );
    });
  },
});

testNeeding(ffiMissing, {
  name: `control: pipelined requests, bad lines and half-close on one connection`,
  async fn() {
    await withTempDir(async (dir) => {
      const path = `${dir}/ctl.sock`;
      let n = 0;
      const server = ControlServer.listen(path, async (req) => {
        await new Promise((r) => setTimeout(r, req.cmd === "a" ? 30 : 0));
        return `${req.cmd}${++n}`;
      });
      const conn = await Deno.connect({ transport: "unix", path });
      try {
        // Three requests in one write, then the write side is closed: all three are answered
        // in order (the first is the slowest), then the server closes the connection.
        await conn.write(new TextEncoder().encode('{"cmd":"a"}\nnot json\n{"cmd":"b"}\n'));
        await conn.closeWrite();
        const lines = await readLines(conn, 4);
        assertEquals(lines, [
          '{"ok":true,"result":"a1"}',
          '{"ok":false,"error":"request is not valid JSON"}',
          '{"ok":true,"result":"b2"}',
        ]);
        const end = performance.now() + 2000;
        while (server.clients > 0 && performance.now() < end) {
          await new Promise((r) => setTimeout(r, 5));
        }
        assertEquals(server.clients, 0);
      } finally {
        conn.close();
        server.close();
        await server.done;
      }
    });
  },
});

testNeeding(ffiMissing, {
  name: `control: an oversized request gets an error and the connection is closed`,
  async fn() {
    await withTempDir(async (dir) => {
      const path = `${dir}/ctl.sock`;
      let called = 0;
      const server = ControlServer.listen(path, () => called++, { maxRequestBytes: 1024 });
      const conn = await Deno.connect({ transport: "unix", path });
      try {
        await conn.write(new Uint8Array(2000).fill(0x41));
        const lines = await readLines(conn, 2);
        assertEquals(lines, ['{"ok":false,"error":"request longer than 1024 bytes"}']);
        assertEquals(called, 0);
      } finally {
        conn.close();
        server.close();
        await server.done;
      }
    });
  },
});

testNeeding(ffiMissing, {
  name: `control: a second instance on a live socket is refused; a stale one is replaced`,
  async fn() {
    await withTempDir(async (dir) => {
      const path = `${dir}/ctl.sock`;
      // A stale socket: bound but never listening (as left behind by a killed instance).
      const { socket, bind, close } = libc().symbols;
      const fd = socket(AF_UNIX, SOCK_STREAM, 0);
      const addr = unixAddress(path);
      assertEquals(bind(fd, addr.addr, addr.len), 0);
      close(fd);
      assert((await Deno.lstat(path)).isSocket);

      const first = ControlServer.listen(path, () => "first");
      try {
        assertEquals(await controlRequest(path, { cmd: "who" }), "first");
        const e = assertThrows(() => ControlServer.listen(path, () => "second"), DeviceError);
        assertEquals(
          e.message,
          `control socket ${path} is in use by a running instance; pass --control PATH`,
        );
        assertEquals(await controlRequest(path, { cmd: "who" }), "first", "still the first");
      } finally {
        first.close();
        await first.done;
      }
    });
  },
});

testNeeding(ffiMissing, {
  name: `control: a path that is not a socket is never removed`,
  async fn() {
    await withTempDir(async (dir) => {
      const path = `${dir}/precious.txt`;
      await Deno.writeTextFile(path, "keep me");
      const e = assertThrows(() => ControlServer.listen(path, () => 1), DeviceError);
      assertMatch(e.message, /exists and is not a socket/);
      assertEquals(await Deno.readTextFile(path), "keep me");
      assertThrows(() => ControlServer.listen(`${dir}/${"x".repeat(120)}`, () => 1), DeviceError);
      const noDir = assertThrows(() => ControlServer.listen(`${dir}/no/such.sock`, () => 1));
      assertMatch(noDir.message, /ENOENT.*directory does not exist/);
    });
  },
});

testNeeding(ffiMissing, {
  name: `control: a request the instance does not answer times out`,
  async fn() {
    await withTempDir(async (dir) => {
      const path = `${dir}/ctl.sock`;
      const server = ControlServer.listen(path, () => new Promise(() => {}));
      try {
        const t0 = performance.now();
        const e = await assertRejects(() => controlRequest(path, { cmd: "hang" }, 300));
        assertEquals(e.message, `no answer from the instance at ${path} within 300 ms`);
        assert(performance.now() - t0 < 2000);
      } finally {
        server.close();
        await server.done;
      }
    });
  },
});

testNeeding(ffiMissing, {
  name: `control: the server does not block the event loop while it waits`,
  async fn() {
    await withTempDir(async (dir) => {
      const path = `${dir}/ctl.sock`;
      const server = ControlServer.listen(path, () => "ok");
      try {
        let ticks = 0;
        const timer = setInterval(() => ticks++, 5);
        await new Promise((r) => setTimeout(r, 120));
        clearInterval(timer);
        assert(ticks >= 10, `only ${ticks} timer ticks while the server listened`);
        assertEquals(await controlRequest(path, { cmd: "x" }), "ok");
      } finally {
        server.close();
        await server.done;
      }
    });
  },
});
