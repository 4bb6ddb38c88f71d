/**
 * `lb.ts fetch URL --tap NAME --ip ADDR/PREFIX [--gateway IP] [-o FILE] [--sha256]`: the seed's
 *
 *     exec 8<> /dev/tcp/host/80; echo -e 'GET / HTTP/1.0\n' >&8; cat <&8
 *
 * on the userspace stack. A short-lived host comes up on the TAP and fetches the URL with
 * `stack.fetch` (stack/http/client.ts: `GET path HTTP/1.1` with a Host header and
 * "Connection: close", no redirect followed), prints the response as it arrives (status line and
 * fields as received, then the body, like `cat <&8`; a chunked body is printed decoded), and
 * closes cleanly (it waits for its FIN to be acknowledged). A body shorter than its
 * Content-Length is an error. With `-o FILE` the body goes to FILE and `--sha256` prints the
 * body's hash instead of the body; the head is printed either way. The host is an IPv4 literal
 * or a bracketed IPv6 one (`http://[2001:db8::1]/`, with `--ip` giving the host an IPv6
 * address); the stack has no resolver. Exit 0 when the whole response arrived.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { numberArg, parseFlags, str, UsageError } from "../args.ts";
import { HOST_FLAG_SPEC, hostOptions } from "../host_flags.ts";
import { type Instance, startInstance } from "../instance.ts";
import { formatIpv4, parseIpv4 } from "../../stack/wire/address.ts";
import { formatIpv6, parseIpv6 } from "../../stack/wire/address6.ts";
import { responseHeadOf } from "../../stack/http/client.ts";

const SPEC = {
  ...HOST_FLAG_SPEC,
  output: { type: "string", short: "o" },
  sha256: { type: "boolean" },
  timeout: { type: "string" },
} as const;

/** How long the close may take: our FIN acknowledged and the peer's received. */
const CLOSE_WAIT_MS = 3000;

/** The parts of an http:// URL `fetch` needs. */
export interface FetchTarget {
  /** Destination address: "10.0.0.1", or "[2001:db8::1]" (canonical IPv6 in brackets). */
  host: string;
  port: number;
  /** Path and query, e.g. "/bytes/100?x=1". */
  path: string;
  /** The Host header value: the authority ("10.0.0.1", "10.0.0.1:8080", "[2001:db8::1]:80"). */
  hostHeader: string;
}

/** Parses an `http://A.B.C.D[:PORT]/path` or `http://[IPV6][:PORT]/path` URL (else UsageError). */
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
  // The URL parser writes an IPv6 host in brackets, canonical (RFC 5952), as the Host header.
  const v4 = parseIpv4(url.hostname);
  const v6 = url.hostname.startsWith("[") ? parseIpv6(url.hostname.slice(1, -1)) : null;
  if (v4 === null && v6 === null) {
    throw new UsageError(
      `fetch: "${url.hostname}" is not an IPv4 or [IPv6] address (the stack has no name ` +
        "resolution)",
    );
  }
  const host = v4 !== null ? formatIpv4(v4) : `[${formatIpv6(v6!)}]`;
  const port = url.port === "" ? 80 : Number(url.port);
  return {
    host,
    port,
    path: (url.pathname === "" ? "/" : url.pathname) + url.search,
    hostHeader: url.port === "" ? host : `${host}:${port}`,
  };
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
  const where = `${target.host}:${target.port}`;
  const started = performance.now();
  // A stalled exchange (connect, answer or body) ends after `timeoutMs` without progress.
  const ac = new AbortController();
  const stall = () => ac.abort(new Error(`no data from ${where} for ${timeoutMs / 1000} s`));
  let timer = setTimeout(stall, timeoutMs);
  const progress = () => {
    clearTimeout(timer);
    timer = setTimeout(stall, timeoutMs);
  };
  const interrupt = () => ac.abort(new Error("interrupted"));
  Deno.addSignalListener("SIGINT", interrupt);
  const raw = file === null && hash === null;
  let body = 0;
  let status = 0;
  try {
    // Like `cat <&8`, whatever the server answers is the result: redirects are not followed.
    // One request: "Connection: close", so the connection is not kept in stack.fetch's pool.
    const res = await inst.stack.fetch(`http://${target.hostHeader}${target.path}`, {
      signal: ac.signal,
      redirect: "manual",
      headers: { connection: "close" },
    });
    progress();
    status = res.status;
    await writeAll(Deno.stdout, new TextEncoder().encode(responseHeadOf(res) ?? ""));
    if (res.body !== null) {
      for await (const piece of res.body) {
        progress();
        body += piece.length;
        if (raw) await writeAll(Deno.stdout, piece);
        hash?.update(piece);
        if (file !== null) await writeAll(file, piece);
      }
    }
  } catch (e) {
    throw ac.signal.aborted ? ac.signal.reason : e;
  } finally {
    clearTimeout(timer);
    Deno.removeSignalListener("SIGINT", interrupt);
  }
  await waitClosed(inst);
  const secs = (performance.now() - started) / 1000;
  if (hash !== null) console.log(`${hash.digest("hex")}  ${body} bytes`);
  console.error(
    `lb.ts: fetched ${body} bytes of body from ${where} in ${secs.toFixed(3)} s ` +
      `(${(body / secs / 1e6).toFixed(1)} MB/s), status ${status}`,
  );
  return 0;
}

/**
 * Waits (bounded) until the fetch's connection has finished closing, so the process does not
 * exit with our FIN unsent or unacknowledged: gone, or in TIME_WAIT/CLOSE.
 */
async function waitClosed(inst: Instance): Promise<void> {
  const deadline = performance.now() + CLOSE_WAIT_MS;
  while (performance.now() < deadline) {
    const open = inst.stack.tcpSnapshot().some((s) =>
      s.state !== "LISTEN" && s.state !== "TIME_WAIT" && s.state !== "CLOSE"
    );
    if (!open) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}
