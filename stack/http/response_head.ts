/**
 * Parsing of an HTTP/1.1 response head (RFC 9112 4: status line, then fields as in a request)
 * and the framing of the response body (RFC 9112 6.3): none for a HEAD request and for 1xx, 204
 * and 304; chunked; Content-Length; else everything until the server closes.
 *
 * @module
 */

import { HttpError } from "./errors.ts";
import type { BodyFraming } from "./head.ts";
import type { HttpReader } from "./reader.ts";

/** A parsed response head. */
export interface ResponseHead {
  /** The status code. */
  status: number;
  /** The reason phrase (may be empty). */
  reason: string;
  /** The minor version of HTTP/1.x the server speaks. */
  minor: number;
  /** Field lines in order, names as sent. */
  fields: [string, string][];
  /** How the body is delimited; "close" = until the end of the connection. */
  body: BodyFraming | { kind: "close" };
  /** Whether the server lets the connection persist (RFC 9112 9.3). */
  keepAlive: boolean;
  /** The head as received, lines ending in CRLF (for tools that print it, like `lb.ts fetch`). */
  raw: string;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Reads one response head answering a request with `method`; null if the server closed first. */
export async function readResponseHead(
  r: HttpReader,
  method: string,
  maxHeadBytes = 64 * 1024,
): Promise<ResponseHead | null> {
  let budget = maxHeadBytes;
  const line = await r.line(budget, 502);
  if (line === null) return null;
  let raw = line + "\r\n";
  budget -= line.length + 2;
  const m = /^HTTP\/1\.([0-9]) ([0-9]{3})(?: (.*))?$/.exec(line);
  if (m === null) throw new HttpError(502, `not an HTTP/1.x status line: ${line.slice(0, 60)}`);
  const fields: [string, string][] = [];
  const seen = new Map<string, string[]>();
  while (true) {
    const h = await r.line(budget, 502);
    if (h === null) throw new HttpError(502, "response head cut short");
    budget -= h.length + 2;
    if (budget < 0) throw new HttpError(502, "response head too large");
    raw += h + "\r\n";
    if (h === "") break;
    const colon = h.indexOf(":");
    const name = colon <= 0 ? "" : h.slice(0, colon);
    if (!TOKEN.test(name)) throw new HttpError(502, "malformed header field in the response");
    const value = h.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (!FIELD_VALUE.test(value)) throw new HttpError(502, `control character in ${name}`);
    fields.push([name, value]);
    const key = name.toLowerCase();
    const list = seen.get(key);
    if (list === undefined) seen.set(key, [value]);
    else list.push(value);
  }
  const status = Number(m[2]);
  const minor = Number(m[1]);
  const connection = seen.get("connection")?.join(",").toLowerCase() ?? "";
  const keepAlive = minor >= 1
    ? !/(^|,)\s*close\s*(,|$)/.test(connection)
    : /(^|,)\s*keep-alive\s*(,|$)/.test(connection);
  let body: ResponseHead["body"];
  const te = seen.get("transfer-encoding");
  const cl = seen.get("content-length");
  if (method === "HEAD" || status < 200 || status === 204 || status === 304) {
    body = { kind: "none" };
  } else if (te !== undefined) {
    const codings = te.join(",").split(",").map((c) => c.trim().toLowerCase());
    if (codings[codings.length - 1] !== "chunked") {
      // RFC 9112 6.3: a response whose final coding is not chunked runs until the close.
      body = { kind: "close" };
    } else if (codings.length !== 1) {
      throw new HttpError(502, `unsupported transfer coding ${te.join(", ")}`);
    } else {
      body = { kind: "chunked" };
    }
  } else if (cl !== undefined) {
    const values = new Set(cl.join(",").split(",").map((v) => v.trim()));
    const [v] = values;
    if (values.size !== 1 || !/^[0-9]{1,15}$/.test(v)) {
      throw new HttpError(502, "invalid Content-Length in the response");
    }
    body = Number(v) === 0 ? { kind: "none" } : { kind: "length", length: Number(v) };
  } else {
    body = { kind: "close" };
  }
  return {
    status,
    reason: m[3] ?? "",
    minor,
    fields,
    body,
    keepAlive: keepAlive && body.kind !== "close",
    raw,
  };
}
