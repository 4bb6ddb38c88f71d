/**
 * The same services on the userspace stack: two Stacks on an in-memory cable, the server's
 * services on `stack.listen`, the client on `stack.connect` (what the namespace tests do with the
 * kernel as the client, here without root).
 */
import { createHash } from "node:crypto";
import { assertEquals, assertMatch } from "../../assert.ts";
import { createMemoryPair } from "../../../stack/link/memory.ts";
import { Stack } from "../../../stack/net/stack.ts";
import { parseIpv4 } from "../../../stack/wire/address.ts";
import { type ServeSpec, startServices } from "../../../stack/services/serve.ts";
import { bytesSha256 } from "../../../stack/services/http.ts";
import { writeAll } from "../../../stack/services/conn.ts";

const SERVER = "10.7.0.1";
const CLIENT = "10.7.0.2";
const enc = new TextEncoder();
const dec = new TextDecoder();

async function withStacks(fn: (client: Stack) => Promise<void>): Promise<void> {
  const [da, db] = createMemoryPair({ queueLength: 4096 });
  const server = new Stack({ device: da, address: parseIpv4(SERVER)!, prefix: 24 });
  const client = new Stack({ device: db, address: parseIpv4(CLIENT)!, prefix: 24 });
  const runs = [server.start(), client.start()];
  const specs: ServeSpec[] = [
    { name: "http", port: 80, tcp: true, udp: false },
    { name: "echo", port: 7, tcp: true, udp: true },
  ];
  const services = startServices(server, specs);
  try {
    await fn(client);
  } finally {
    services.close();
    server.close();
    client.close();
    await Promise.all(runs);
    await services.done;
  }
}

/** Reads until end of stream; the bytes as one array. */
async function readAll(conn: { read(p: Uint8Array): Promise<number | null> }): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  let total = 0;
  for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
    parts.push(buf.slice(0, n));
    total += n;
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

Deno.test("userspace: HTTP / and /bytes/N over stack.connect, the same code as on Deno", async () => {
  await withStacks(async (client) => {
    const conn = await client.connect({ hostname: SERVER, port: 80 });
    await writeAll(conn, enc.encode(`GET / HTTP/1.0\r\nHost: ${SERVER}\r\n\r\n`));
    const page = dec.decode(await readAll(conn));
    conn.close();
    assertMatch(page, /^HTTP\/1\.1 200 OK\r\n/);
    assertMatch(page, new RegExp(`\\r\\n\\r\\nlb\\.ts host ${SERVER.replaceAll(".", "\\.")}\\n$`));

    const n = 3_000_000;
    const big = await client.connect({ hostname: SERVER, port: 80 });
    await writeAll(big, enc.encode(`GET /bytes/${n} HTTP/1.0\r\nHost: x\r\n\r\n`));
    const all = await readAll(big);
    big.close();
    const text = dec.decode(all.subarray(0, 400));
    const headLen = text.indexOf("\r\n\r\n") + 4;
    assertMatch(text, new RegExp(`Content-Length: ${n}\r\n`));
    const body = all.subarray(headLen);
    assertEquals(body.length, n);
    assertEquals(createHash("sha256").update(body).digest("hex"), bytesSha256(n));
  });
});

Deno.test("userspace: echo answers the client's half-close; UDP echo on the same port", async () => {
  await withStacks(async (client) => {
    const conn = await client.connect({ hostname: SERVER, port: 7 });
    const data = new Uint8Array(500_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const writing = (async () => {
      await writeAll(conn, data);
      await conn.closeWrite();
    })();
    const back = await readAll(conn);
    await writing;
    conn.close();
    assertEquals(back.length, data.length);
    assertEquals(back, data);

    const sock = client.listenDatagram({ port: 0, transport: "udp" });
    await sock.send(enc.encode("udp hello"), { hostname: SERVER, port: 7 });
    const [d, from] = await sock.receive();
    assertEquals([dec.decode(d), from.hostname, from.port], ["udp hello", SERVER, 7]);
    sock.close();
  });
});
