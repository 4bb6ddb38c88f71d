/**
 * The HTTP check (keepalived's HTTP_GET, haproxy's `option httpchk`): connect to the real server,
 * send `GET PATH HTTP/1.0` and compare the status code of the response's status line
 * (RFC 9112 section 4: `HTTP-version SP status-code SP [reason-phrase]`) with the expected one.
 * Only the status line is read; the body is not. Everything (connect, write, read) must finish
 * within the timeout; the connection is always closed.
 *
 * @module
 */

import { type Connector, errorReason, type ProbeConn, type ProbeTarget } from "./tcp_check.ts";

/** The status line must arrive within this many bytes (a guard against an endless line). */
const MAX_STATUS_LINE = 1024;

/**
 * The status code from the start of an HTTP/1.x response (`HTTP/1.1 200 OK\r\n...`), or a reason
 * string when the bytes are not a status line. `len` bytes of `buf` are used; "incomplete" when
 * no CRLF has arrived yet.
 */
export function parseStatusLine(buf: Uint8Array, len: number): number | string {
  let end = -1;
  for (let i = 0; i + 1 < len; i++) {
    if (buf[i] === 0x0d && buf[i + 1] === 0x0a) {
      end = i;
      break;
    }
  }
  if (end < 0) return "incomplete";
  const line = new TextDecoder().decode(buf.subarray(0, end));
  // RFC 9112 4: HTTP-version = "HTTP/" DIGIT "." DIGIT; status-code = 3DIGIT.
  const m = /^HTTP\/\d\.\d ([0-9]{3})(?: |$)/.exec(line);
  if (m === null) return `not an HTTP status line: ${JSON.stringify(line.slice(0, 64))}`;
  return Number(m[1]);
}

/** The request bytes: HTTP/1.0 with Host and Connection: close, so the server closes after. */
export function httpRequest(hostname: string, port: number, path: string): Uint8Array {
  return new TextEncoder().encode(
    `GET ${path} HTTP/1.0\r\nHost: ${hostname}:${port}\r\nUser-Agent: lb.ts-health\r\n` +
      `Connection: close\r\n\r\n`,
  );
}

async function exchange(
  conn: ProbeConn,
  target: ProbeTarget,
  path: string,
): Promise<number | string> {
  const req = httpRequest(target.hostname, target.port, path);
  let off = 0;
  while (off < req.length) off += await conn.write(req.subarray(off));
  const buf = new Uint8Array(MAX_STATUS_LINE);
  let len = 0;
  // Bounded: each read adds at least one byte, or ends the loop.
  while (len < buf.length) {
    const n = await conn.read(buf.subarray(len));
    if (n === null) break;
    len += n;
    const s = parseStatusLine(buf, len);
    if (s !== "incomplete") return s;
  }
  const s = parseStatusLine(buf, len);
  return s === "incomplete" ? `no status line in ${len} bytes` : s;
}

/**
 * GETs `path`; resolves null when the status is `status`, else the reason (wrong status, refused,
 * timed out, bad response).
 */
export async function httpCheck(
  connect: Connector,
  target: ProbeTarget,
  path: string,
  status: number,
): Promise<string | null> {
  const where = `http://${target.hostname}:${target.port}${path}`;
  let conn: ProbeConn | null = null;
  let done = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const deadline = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`timed out after ${target.timeoutMs} ms`), target.timeoutMs);
    });
    const work = (async () => {
      const c = await connect({
        hostname: target.hostname,
        port: target.port,
        timeoutMs: target.timeoutMs,
      });
      // A connection that completes after the deadline is closed at once, not leaked.
      if (done) safeClose(c);
      else conn = c;
      return await exchange(c, target, path);
    })();
    // The loser of the race is settled by the close below; keep its rejection from going unhandled.
    work.catch(() => {});
    const got = await Promise.race([work, deadline]);
    if (got === status) return null;
    if (typeof got === "number") return `${where} answered ${got}, expected ${status}`;
    return `${where}: ${got}`;
  } catch (e) {
    return `${where}: ${errorReason(e)}`;
  } finally {
    done = true;
    clearTimeout(timer);
    if (conn !== null) safeClose(conn);
  }
}

/** Closes, ignoring an already-closed connection (the peer may have reset it). */
function safeClose(conn: ProbeConn): void {
  try {
    conn.close();
  } catch {
    // Already closed: nothing to release.
  }
}
