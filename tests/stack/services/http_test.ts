import { createHash } from "node:crypto";
import { assert, assertEquals, assertMatch } from "../../assert.ts";
import {
  BYTES_BLOCK_LEN,
  bytesBlock,
  bytesSha256,
  serveHttp,
} from "../../../stack/services/http.ts";
import type { Service } from "../../../stack/services/conn.ts";
import { connectTo, dec, enc, localListener, readAll, writeAllTo } from "./_util.ts";

async function withHttp(
  fn: (s: Service, base: string) => Promise<void>,
  options = {},
): Promise<void> {
  const service = serveHttp(localListener(), options);
  try {
    await fn(service, `http://127.0.0.1:${service.addr.port}`);
  } finally {
    service.close();
    await service.done;
  }
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** One parsed response from a raw connection. */
interface Response {
  status: number;
  headers: Map<string, string>;
  body: Uint8Array;
}

/** Reads HTTP responses off a raw connection (Content-Length framing only, as the server uses). */
class ResponseReader {
  #buf = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  async #more(): Promise<boolean> {
    const chunk = new Uint8Array(65536);
    const n = await this.conn.read(chunk);
    if (n === null) return false;
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
    return true;
  }

  /** The next response, or null at end of stream. `head` responses have no body. */
  async next(head = false): Promise<Response | null> {
    let end: number;
    while ((end = dec.decode(this.#buf).indexOf("\r\n\r\n")) < 0) {
      if (!(await this.#more())) {
        if (this.#buf.length === 0) return null;
        throw new Error(`stream ended inside a head: ${dec.decode(this.#buf)}`);
      }
    }
    const lines = dec.decode(this.#buf.subarray(0, end)).split("\r\n");
    const status = Number(lines[0].split(" ")[1]);
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const c = l.indexOf(":");
      headers.set(l.slice(0, c).toLowerCase(), l.slice(c + 1).trim());
    }
    this.#buf = this.#buf.subarray(end + 4);
    const len = head || status < 200 ? 0 : Number(headers.get("content-length") ?? "0");
    while (this.#buf.length < len) {
      if (!(await this.#more())) throw new Error("stream ended inside a body");
    }
    const body = this.#buf.slice(0, len);
    this.#buf = this.#buf.subarray(len);
    return { status, headers, body };
  }
}

Deno.test("http: / names the host (the local address, or the configured name)", async () => {
  await withHttp(async (_s, base) => {
    const r = await fetch(`${base}/`);
    assertEquals(r.status, 200);
    assertEquals(await r.text(), "lb.ts host 127.0.0.1\n");
    assertEquals(r.headers.get("content-type"), "text/plain");
    assertMatch(r.headers.get("date") ?? "", /GMT$/);
  });
  await withHttp(async (_s, base) => {
    assertEquals(await (await fetch(`${base}/?x=1`)).text(), "lb.ts host web-1\n");
  }, { hostName: "web-1" });
});

Deno.test("http: /bytes/N streams exactly N bytes of the documented pattern", async () => {
  await withHttp(async (_s, base) => {
    const block = bytesBlock();
    for (const n of [0, 1, BYTES_BLOCK_LEN, BYTES_BLOCK_LEN + 7, 3_000_000]) {
      const r = await fetch(`${base}/bytes/${n}`);
      assertEquals(r.status, 200);
      assertEquals(r.headers.get("content-length"), String(n));
      const body = new Uint8Array(await r.arrayBuffer());
      assertEquals(body.length, n);
      for (let i = 0; i < n; i += 997) {
        if (body[i] !== block[i % BYTES_BLOCK_LEN]) throw new Error(`byte ${i} of ${n} differs`);
      }
      assertEquals(sha256(body), bytesSha256(n));
    }
    // The pattern is not trivially periodic at small scale (a shifted segment would be caught).
    assert(block.subarray(0, 1448).some((b, i) => b !== block[i + 1448]));
  });
});

Deno.test("http: /sha256 hashes Content-Length and chunked bodies as they stream", async () => {
  await withHttp(async (_s, base) => {
    const data = crypto.getRandomValues(new Uint8Array(60_000));
    const r = await fetch(`${base}/sha256`, { method: "POST", body: data });
    assertEquals(await r.text(), sha256(data) + "\n");

    // A ReadableStream body goes out chunked (Transfer-Encoding: chunked) from Deno's fetch.
    const parts = 40;
    const whole = new Uint8Array(parts * 100_000);
    for (let i = 0; i < parts; i++) {
      crypto.getRandomValues(whole.subarray(i * 100_000, i * 100_000 + 50_000));
      crypto.getRandomValues(whole.subarray(i * 100_000 + 50_000, (i + 1) * 100_000));
    }
    let i = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (i === parts) c.close();
        else c.enqueue(whole.slice(i * 100_000, ++i * 100_000));
      },
    });
    const r2 = await fetch(`${base}/sha256`, { method: "POST", body: stream });
    assertEquals(await r2.text(), sha256(whole) + "\n");

    // No body: the hash of nothing.
    assertEquals(await (await fetch(`${base}/sha256`)).text(), sha256(new Uint8Array(0)) + "\n");
  });
});

Deno.test("http: raw chunked body with extensions and trailers", async () => {
  await withHttp(async (s) => {
    const conn = await connectTo(s);
    const req = "POST /sha256 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
      "5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
    await writeAllTo(conn, enc.encode(req));
    const r = await new ResponseReader(conn).next();
    assertEquals(dec.decode(r!.body), sha256(enc.encode("hello 0123456789")) + "\n");
    conn.close();
  });
});

Deno.test("http: HTTP/1.1 keep-alive, pipelining, HEAD, and Connection: close", async () => {
  await withHttp(async (s) => {
    const conn = await connectTo(s);
    const rr = new ResponseReader(conn);
    // Three requests in one write: answered in order on the same connection.
    await writeAllTo(
      conn,
      enc.encode(
        "GET /bytes/5 HTTP/1.1\r\nHost: a\r\n\r\n" +
          "HEAD /bytes/10 HTTP/1.1\r\nHost: a\r\n\r\n" +
          "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n",
      ),
    );
    const a = (await rr.next())!;
    assertEquals([a.status, a.body.length], [200, 5]);
    assertEquals(a.headers.get("connection"), undefined);
    const b = (await rr.next(true))!;
    assertEquals([b.status, b.headers.get("content-length"), b.body.length], [200, "10", 0]);
    const c = (await rr.next())!;
    assertEquals([c.status, dec.decode(c.body)], [404, "404 Not Found\n"]);
    // Still open: one more, asking to close.
    await writeAllTo(conn, enc.encode("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
    const d = (await rr.next())!;
    assertEquals(d.status, 200);
    assertEquals(d.headers.get("connection"), "close");
    assertEquals(await rr.next(), null, "the server closed after Connection: close");
    conn.close();
  });
});

Deno.test("http: HTTP/1.0 closes by default and persists with keep-alive", async () => {
  await withHttp(async (s) => {
    const conn = await connectTo(s);
    await writeAllTo(conn, enc.encode("GET / HTTP/1.0\r\n\r\n"));
    const text = dec.decode(await readAll(conn));
    assertMatch(text, /^HTTP\/1\.1 200 OK\r\n/);
    assertMatch(text, /\r\nConnection: close\r\n/);
    assertMatch(text, /\r\n\r\nlb\.ts host 127\.0\.0\.1\n$/);
    conn.close();

    const keep = await connectTo(s);
    const rr = new ResponseReader(keep);
    for (let i = 0; i < 3; i++) {
      await writeAllTo(keep, enc.encode("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
      const r = (await rr.next())!;
      assertEquals(r.status, 200);
      assertEquals(r.headers.get("connection"), "keep-alive");
    }
    keep.close();
  });
});

Deno.test("http: the seed's request with bare LF line ends is understood", async () => {
  await withHttp(async (s) => {
    const conn = await connectTo(s);
    // echo -e 'GET / HTTP/1.0\n' >&8 sends "GET / HTTP/1.0\n\n".
    await writeAllTo(conn, enc.encode("GET / HTTP/1.0\n\n"));
    assertMatch(dec.decode(await readAll(conn)), /^HTTP\/1\.1 200 OK\r\n[^]*lb\.ts host/);
    conn.close();
  });
});

Deno.test("http: Expect: 100-continue gets the interim response before the body", async () => {
  await withHttp(async (s) => {
    const conn = await connectTo(s);
    const rr = new ResponseReader(conn);
    await writeAllTo(
      conn,
      enc.encode(
        "PUT /sha256 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
      ),
    );
    const interim = (await rr.next())!;
    assertEquals(interim.status, 100);
    await writeAllTo(conn, enc.encode("abc"));
    const r = (await rr.next())!;
    assertEquals(dec.decode(r.body), sha256(enc.encode("abc")) + "\n");
    conn.close();
  });
});

Deno.test("http: bad requests get the right status and a closed connection", async () => {
  const cases: [string, number][] = [
    ["GARBAGE\r\n\r\n", 400],
    ["GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505],
    ["GET / HTTP/1.1\r\n\r\n", 400], // no Host
    ["GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400],
    [
      "POST /sha256 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
      400,
    ],
    ["POST /sha256 HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n", 400],
    ["POST /sha256 HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400],
    ["POST /sha256 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400],
    ["POST /sha256 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501],
    ["POST /sha256 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400],
    ["POST /sha256 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX", 400],
    ["POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi", 405],
    ["GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", 417],
    [`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${"x".repeat(20_000)}\r\n\r\n`, 431],
  ];
  await withHttp(async (s) => {
    for (const [req, status] of cases) {
      const conn = await connectTo(s);
      await writeAllTo(conn, enc.encode(req));
      // The connection ends for every error except 405 (a well-framed request): close our side
      // after a short while so readAll ends either way.
      const timer = setTimeout(() => conn.closeWrite().catch(() => {}), 300);
      const text = dec.decode(await readAll(conn));
      clearTimeout(timer);
      conn.close();
      assertMatch(text, new RegExp(`^HTTP/1\\.1 ${status} `), `${JSON.stringify(req)} -> ${text}`);
    }
  });
});

Deno.test("http: a truncated Content-Length body ends the connection without a hang", async () => {
  await withHttp(async (s) => {
    const conn = await connectTo(s);
    await writeAllTo(
      conn,
      enc.encode("POST /sha256 HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"),
    );
    await conn.closeWrite();
    assertMatch(dec.decode(await readAll(conn)), /^HTTP\/1\.1 400 /);
    conn.close();
    assertEquals(s.errors, 0);
  });
});

Deno.test("http: an idle keep-alive connection is closed after the idle timeout", async () => {
  await withHttp(async (s) => {
    const conn = await connectTo(s);
    const t0 = performance.now();
    assertEquals((await readAll(conn)).length, 0);
    const waited = performance.now() - t0;
    assert(waited >= 100 && waited < 5000, `closed after ${waited} ms`);
    conn.close();
  }, { idleTimeoutMs: 150 });
});

Deno.test("http: a half-closed client (nc -N) still gets its answer, streamed ones included", async () => {
  await withHttp(async (s) => {
    for (const path of ["/", "/bytes/300000"]) {
      const conn = await connectTo(s);
      await writeAllTo(conn, enc.encode(`GET ${path} HTTP/1.0\r\n\r\n`));
      await conn.closeWrite();
      const text = await readAll(conn);
      conn.close();
      assertMatch(dec.decode(text.subarray(0, 20)), /^HTTP\/1\.1 200 /, path);
      if (path !== "/") assert(text.length > 300_000, `${text.length} bytes`);
    }
  });
});
