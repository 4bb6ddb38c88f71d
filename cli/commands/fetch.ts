/**
 * `lb.ts fetch URL --tap NAME --ip ADDR/PREFIX [--gateway IP] [-o FILE] [--sha256]`: the seed's
 *
 *     exec 8<> /dev/tcp/host/80; echo -e 'GET / HTTP/1.0\n' >&8; cat <&8
 *
 * on the userspace stack. A short-lived host comes up on the TAP, resolves the next hop with
 * ARP, opens a TCP connection, sends `GET path HTTP/1.0` with a Host header, prints the response
 * as it arrives (status line, headers and body, like `cat <&8`), and closes cleanly (it waits for
 * its FIN to be acknowledged). With `-o FILE` the body goes to FILE and `--sha256` prints the
 * body's hash instead of the body; the head is printed either way. The host is an IPv4 literal
 * (the stack has no resolver). Exit 0 when the whole response arrived.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { numberArg, parseFlags, str, UsageError } from "../args.ts";
import { HOST_FLAG_SPEC, hostOptions } from "../host_flags.ts";
import { type Instance, startInstance } from "../instance.ts";
import { formatIpv4, parseIpv4 } from "../../stack/wire/address.ts";

const SPEC = {
  ...HOST_FLAG_SPEC,
  output: { type: "string", short: "o" },
  sha256: { type: "boolean" },
  timeout: { type: "string" },
} as const;

/** A response head is at most this long (larger ones are not HTTP we understand). */
const MAX_HEAD = 64 * 1024;
/** How long the close may take: our FIN acknowledged and the peer's received. */
const CLOSE_WAIT_MS = 3000;

/** The parts of an http:// URL `fetch` needs. */
export interface FetchTarget {
  /** Destination address (u32). */
  host: number;
  port: number;
  /** Path and query, e.g. "/bytes/100?x=1". */
  path: string;
  /** The Host header value: the authority as written ("10.0.0.1" or "10.0.0.1:8080"). */
  hostHeader: string;
}

/** Parses an `http://A.B.C.D[:PORT]/path` URL; anything else is a UsageError. */
export function parseFetchUrl(text: string): FetchTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`fetch: "${text}" is not a URL (e.g. http://10.0.0.1/)`);
  }
  if (url.protocol !== "http:") {
    throw new UsageError(`fetch: only http:// URLs are supported, not ${url.protocol}//`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new UsageError("fetch: user names and passwords in the URL are not supported");
  }
  const host = parseIpv4(url.hostname);
  if (host === null) {
    throw new UsageError(
      `fetch: "${url.hostname}" is not an IPv4 address (the stack has no name resolution)`,
    );
  }
  const port = url.port === "" ? 80 : Number(url.port);
  return {
    host,
    port,
    path: (url.pathname === "" ? "/" : url.pathname) + url.search,
    hostHeader: url.port === "" ? formatIpv4(host) : `${formatIpv4(host)}:${port}`,
  };
}

/** The request the seed sends, as HTTP/1.0 with the Host header every server expects. */
export function fetchRequest(t: FetchTarget): string {
  return `GET ${t.path} HTTP/1.0\r\nHost: ${t.hostHeader}\r\nUser-Agent: lb.ts\r\n` +
    "Accept: */*\r\n\r\n";
}

/**
 * The end of a response head in `buf[0..len)`: the index just past CRLF CRLF (or LF LF, which
 * RFC 9112 2.2 lets a recipient accept), or -1 when it has not arrived yet.
 */
export function headEnd(buf: Uint8Array, len: number): number {
  for (let i = 1; i < len; i++) {
    if (buf[i] !== 10) continue;
    if (buf[i - 1] === 10) return i + 1;
    if (i >= 3 && buf[i - 1] === 13 && buf[i - 2] === 10 && buf[i - 3] === 13) return i + 1;
  }
  return -1;
}

/** The status code and Content-Length (null if absent) of a response head. */
export function parseResponseHead(head: string): { status: number; contentLength: number | null } {
  const lines = head.split(/\r?\n/);
  const m = /^HTTP\/[0-9]\.[0-9] ([0-9]{3})/.exec(lines[0]);
  if (m === null) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0].slice(0, 80))}`);
  let contentLength: number | null = null;
  for (const l of lines.slice(1)) {
    const c = /^content-length:\s*([0-9]+)\s*$/i.exec(l);
    if (c !== null) contentLength = Number(c[1]);
  }
  return { status: Number(m[1]), contentLength };
}

/** Something bytes can be written to completely (stdout, a file). */
interface Sink {
  write(p: Uint8Array): Promise<number>;
}

async function writeAll(w: Sink, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await w.write(off === 0 ? data : data.subarray(off));
}

/** Runs `lb.ts fetch`; returns the exit code. */
export async function fetchCommand(args: string[]): Promise<number> {
  const { flags, positionals } = parseFlags("fetch", args, SPEC, true);
  if (positionals.length !== 1) {
    throw new UsageError("fetch: give exactly one URL (e.g. http://10.0.0.1/)");
  }
  const target = parseFetchUrl(positionals[0]);
  const opts = hostOptions("fetch", flags);
  const timeoutMs = numberArg(str(flags, "timeout") ?? "10", "--timeout", 0.1, 3600) * 1000;
  const output = str(flags, "output");
  if (output === "") throw new UsageError("-o needs a file name");
  const wantHash = flags.sha256 === true;
  // A control socket only when asked for (e.g. to watch `lb.ts netstat -e` during a download).
  const control = str(flags, "control") ?? null;

  const file = output === undefined
    ? null
    : await Deno.open(output, { write: true, create: true, truncate: true });
  const inst = startInstance({ ...opts, control });
  try {
    return await fetchOnce(inst, target, timeoutMs, file, wantHash ? createHash("sha256") : null);
  } finally {
    file?.close();
    inst.close();
    await inst.done;
  }
}

async function fetchOnce(
  inst: Instance,
  target: FetchTarget,
  timeoutMs: number,
  file: Deno.FsFile | null,
  hash: Hash | null,
): Promise<number> {
  const where = `${formatIpv4(target.host)}:${target.port}`;
  const started = performance.now();
  const conn = await inst.stack.connect({
    hostname: formatIpv4(target.host),
    port: target.port,
    timeoutMs,
  });
  // A stalled transfer ends after `timeoutMs` without progress: the timer closes the connection.
  let stalled = false;
  const stall = () => {
    stalled = true;
    conn.close();
  };
  let timer = setTimeout(stall, timeoutMs);
  const progress = () => {
    clearTimeout(timer);
    timer = setTimeout(stall, timeoutMs);
  };
  const interrupt = () => conn.close();
  Deno.addSignalListener("SIGINT", interrupt);
  const raw = file === null && hash === null;
  let body = 0;
  let head: { status: number; contentLength: number | null } | null = null;
  try {
    await writeAll(conn, new TextEncoder().encode(fetchRequest(target)));
    const buf = new Uint8Array(256 * 1024);
    // Until the head is complete, bytes collect at the front of `buf`.
    let have = 0;
    while (true) {
      const n = await conn.read(head === null ? buf.subarray(have) : buf);
      if (n === null) break;
      progress();
      if (raw) {
        await writeAll(Deno.stdout, buf.subarray(have, have + n));
        if (head === null) {
          have += n;
          const end = headEnd(buf, have);
          if (end >= 0) {
            head = parseResponseHead(new TextDecoder().decode(buf.subarray(0, end)));
            body = have - end;
            have = 0;
          } else if (have === buf.length) {
            throw new Error(`the response head from ${where} is longer than ${buf.length} bytes`);
          }
        } else {
          body += n;
        }
        continue;
      }
      let chunk = buf.subarray(0, n);
      if (head === null) {
        have += n;
        const end = headEnd(buf, have);
        if (end < 0) {
          if (have >= MAX_HEAD) throw new Error(`the response head from ${where} is too long`);
          continue;
        }
        const text = new TextDecoder().decode(buf.subarray(0, end));
        head = parseResponseHead(text);
        await writeAll(Deno.stdout, buf.subarray(0, end));
        chunk = buf.subarray(end, have);
        have = 0;
      }
      body += chunk.length;
      hash?.update(chunk);
      if (file !== null) await writeAll(file, chunk);
    }
  } catch (e) {
    if (stalled) throw new Error(`no data from ${where} for ${timeoutMs / 1000} s`);
    throw e;
  } finally {
    clearTimeout(timer);
    Deno.removeSignalListener("SIGINT", interrupt);
    conn.close();
  }
  await waitClosed(inst, conn.localAddr.port);
  const secs = (performance.now() - started) / 1000;
  if (head === null) throw new Error(`${where} closed the connection without a response`);
  if (hash !== null) console.log(`${hash.digest("hex")}  ${body} bytes`);
  console.error(
    `lb.ts: fetched ${body} bytes of body from ${where} in ${secs.toFixed(3)} s ` +
      `(${(body / secs / 1e6).toFixed(1)} MB/s), status ${head.status}`,
  );
  if (head.contentLength !== null && head.contentLength !== body) {
    throw new Error(`short body: ${body} of ${head.contentLength} bytes (Content-Length)`);
  }
  return 0;
}

/**
 * Waits (bounded) until the connection from `localPort` has finished closing, so the process does
 * not exit with our FIN unsent or unacknowledged: gone, or in TIME_WAIT/CLOSE.
 */
async function waitClosed(inst: Instance, localPort: number): Promise<void> {
  const suffix = `:${localPort}`;
  const deadline = performance.now() + CLOSE_WAIT_MS;
  while (performance.now() < deadline) {
    const open = inst.stack.tcpSnapshot().some((s) =>
      s.local.endsWith(suffix) && s.state !== "TIME_WAIT" && s.state !== "CLOSE"
    );
    if (!open) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}
