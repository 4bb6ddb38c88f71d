/**
 * Parsing of an HTTP/1.1 request head (RFC 9112 3 and 5) and its body framing (RFC 9112 6.3),
 * strictly where leniency lets two parsers disagree about where a request ends (request
 * smuggling, RFC 9112 11.2): Content-Length together with Transfer-Encoding, repeated or
 * malformed Content-Length, whitespace before a colon, obsolete line folding, control
 * characters in a value, a missing or repeated Host, transfer codings other than chunked. Each
 * is refused with a 4xx (or 501/505) and the connection closed.
 *
 * @module
 */

import { HttpError } from "./errors.ts";
import type { HttpReader } from "./reader.ts";

/** Limits on a request head. */
export interface HeadLimits {
  /** Largest head (request line and fields, with their CRLFs), bytes; more gets 431. */
  maxHeadBytes: number;
  /** Most header fields; more gets 431. */
  maxFields: number;
}

/** How the body of a message is delimited (RFC 9112 6.3). */
export type BodyFraming =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" };

/** A parsed request head. */
export interface RequestHead {
  /** The method, case-sensitive (RFC 9110 9.1). */
  method: string;
  /** The request target as sent (origin-form "/p?q", absolute-form, "*" or authority-form). */
  target: string;
  /** The minor version of HTTP/1.x. */
  minor: number;
  /** Field lines in order, names as sent. */
  fields: [string, string][];
  /** The Host field's value (may be empty for HTTP/1.0). */
  host: string;
  /** How the body is delimited. */
  body: BodyFraming;
  /** Whether the client lets the connection persist after this exchange (RFC 9112 9.3). */
  keepAlive: boolean;
  /** Whether the client waits for "100 Continue" before sending the body (RFC 9110 10.1.1). */
  expectContinue: boolean;
}

/** RFC 9110 5.6.2 token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** RFC 9110 5.5 field-value: visible characters, obs-text, SP and HTAB; no other controls. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** A request target of visible ASCII only (RFC 3986 characters; no spaces, no controls). */
const TARGET = /^[\x21-\x7e]+$/;

/** Whether a comma-separated field value lists `token` (case-insensitive). */
export function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  return value.split(",").some((t) => t.trim().toLowerCase() === token);
}

/**
 * Reads one request head. Null when the connection ended (or ended its side) before a request
 * began; an HttpError for anything malformed.
 */
export async function readRequestHead(
  r: HttpReader,
  limits: HeadLimits,
): Promise<RequestHead | null> {
  let budget = limits.maxHeadBytes;
  // RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request line.
  let line = await r.line(budget, 431);
  if (line === null) return null;
  if (line === "") {
    budget -= 2;
    line = await r.line(budget, 431);
    if (line === null) return null;
  }
  budget -= line.length + 2;
  const m = /^([^ ]+) ([^ ]+) HTTP\/([0-9])\.([0-9])$/.exec(line);
  if (m === null || !TOKEN.test(m[1]) || !TARGET.test(m[2])) {
    throw new HttpError(400, "malformed request line");
  }
  if (m[3] !== "1") throw new HttpError(505, "only HTTP/1.x is served");
  const minor = Number(m[4]);
  const fields: [string, string][] = [];
  const seen = new Map<string, string[]>();
  while (true) {
    const h = await r.line(budget, 431);
    if (h === null) throw new HttpError(400, "request head cut short");
    budget -= h.length + 2;
    if (budget < 0) throw new HttpError(431, "request head too large");
    if (h === "") break;
    if (fields.length >= limits.maxFields) throw new HttpError(431, "too many header fields");
    // RFC 9112 5.2: obsolete line folding is rejected; 5.1: no whitespace before the colon.
    if (h[0] === " " || h[0] === "\t") throw new HttpError(400, "obsolete line folding");
    const colon = h.indexOf(":");
    const name = colon <= 0 ? "" : h.slice(0, colon);
    if (!TOKEN.test(name)) throw new HttpError(400, "malformed header field name");
    const value = h.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (!FIELD_VALUE.test(value)) throw new HttpError(400, `control character in ${name}`);
    fields.push([name, value]);
    const key = name.toLowerCase();
    const list = seen.get(key);
    if (list === undefined) seen.set(key, [value]);
    else list.push(value);
  }

  // RFC 9112 3.2: an HTTP/1.1 request without exactly one Host field is a 400.
  const hosts = seen.get("host");
  if (minor >= 1 && (hosts === undefined || hosts.length !== 1)) {
    throw new HttpError(400, "HTTP/1.1 needs exactly one Host header");
  }
  if (hosts !== undefined && hosts.length > 1) throw new HttpError(400, "repeated Host header");
  const host = hosts?.[0] ?? "";

  // Body framing, RFC 9112 6.3.
  let body: BodyFraming = { kind: "none" };
  const te = seen.get("transfer-encoding");
  const cl = seen.get("content-length");
  if (te !== undefined) {
    // Both: the classic smuggling pattern; RFC 9112 6.3 allows rejecting it outright.
    if (cl !== undefined) throw new HttpError(400, "both Transfer-Encoding and Content-Length");
    if (minor === 0) throw new HttpError(400, "Transfer-Encoding in HTTP/1.0");
    const codings = te.join(",").split(",").map((c) => c.trim().toLowerCase());
    if (codings[codings.length - 1] !== "chunked") {
      throw new HttpError(400, "the final transfer coding must be chunked");
    }
    if (codings.length !== 1) throw new HttpError(501, "only the chunked transfer coding");
    body = { kind: "chunked" };
  } else if (cl !== undefined) {
    // RFC 9110 8.6 lets a recipient reject repeated values even when equal: one field, one value.
    if (cl.length !== 1 || !/^[0-9]{1,15}$/.test(cl[0])) {
      throw new HttpError(400, "invalid or repeated Content-Length");
    }
    const length = Number(cl[0]);
    if (length > 0) body = { kind: "length", length };
  }
  const connection = seen.get("connection")?.join(",");
  const keepAlive = minor >= 1
    ? !hasToken(connection, "close")
    : hasToken(connection, "keep-alive");
  const expect = seen.get("expect");
  if (expect !== undefined && (expect.length !== 1 || expect[0].toLowerCase() !== "100-continue")) {
    throw new HttpError(417, `unsupported expectation ${expect.join(", ")}`);
  }
  return {
    method: m[1],
    target: m[2],
    minor,
    fields,
    host,
    body,
    keepAlive,
    expectContinue: expect !== undefined && minor >= 1,
  };
}
