/**
 * The control channel's wire protocol: one JSON object per line each way.
 *
 * Request:  `{"cmd": "arp", ...args}\n`
 * Response: `{"ok": true, "result": ...}\n` or `{"ok": false, "error": "..."}\n`
 *
 * Parsing returns a reason string for bad input instead of throwing (a misbehaving client is
 * data, not an exception).
 *
 * @module
 */

/** The default control socket (ARCHITECTURE.md "Control channel"). */
export const DEFAULT_CONTROL_PATH = "/run/lbts.sock";
/** The largest request or response line accepted, in bytes (without the newline). */
export const MAX_LINE_BYTES = 1 << 20;

/** A request: a command name and its arguments. */
export interface ControlRequest {
  /** The command, e.g. "arp", "route", "stats". */
  cmd: string;
  /** Arguments, command-specific. */
  [arg: string]: unknown;
}

/** A response: a result, or an error message. */
export type ControlResponse =
  | { ok: true; result: unknown }
  | { ok: false; error: string };

/** JSON.stringify replacer: bigints (counters) become decimal strings instead of throwing. */
function replacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** One request line (with the trailing newline). */
export function encodeRequest(req: ControlRequest): string {
  return JSON.stringify(req, replacer) + "\n";
}

/** Parses a request line (without its newline): the request, or a reason it is invalid. */
export function parseRequest(line: string): ControlRequest | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return "request is not valid JSON";
  }
  if (!isObject(v)) return "request must be a JSON object";
  if (typeof v.cmd !== "string" || v.cmd === "") return 'request needs a "cmd" string';
  return v as ControlRequest;
}

/**
 * One response line (with the trailing newline). A result that cannot be serialized (a cycle)
 * becomes an error response rather than an exception.
 */
export function encodeResponse(resp: ControlResponse): string {
  try {
    return JSON.stringify(resp, replacer) + "\n";
  } catch (e) {
    const error = `result could not be encoded as JSON: ${e instanceof Error ? e.message : e}`;
    return JSON.stringify({ ok: false, error }) + "\n";
  }
}

/** Parses a response line: the response, or a reason it is invalid. */
export function parseResponse(line: string): ControlResponse | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return "response is not valid JSON";
  }
  if (!isObject(v)) return "response must be a JSON object";
  if (v.ok === true) return { ok: true, result: v.result };
  if (v.ok === false && typeof v.error === "string") return { ok: false, error: v.error };
  return 'response needs "ok": true with "result", or "ok": false with an "error" string';
}

const decoder = new TextDecoder();

/**
 * Splits a byte stream into lines, holding at most `maxBytes` of an unfinished line.
 * `push` returns false when the unfinished line grew beyond the bound (the connection should be
 * answered with an error and closed).
 */
export class LineReader {
  #buf: Uint8Array;
  #len = 0;
  /** Where the unfinished (last) line starts in `#buf`. */
  #lineStart = 0;
  readonly #max: number;

  /** A reader holding lines of at most `maxBytes` bytes. */
  constructor(maxBytes: number = MAX_LINE_BYTES) {
    this.#max = maxBytes;
    this.#buf = new Uint8Array(Math.min(4096, maxBytes + 1));
  }

  /** Bytes held (complete and unfinished lines). */
  get buffered(): number {
    return this.#len;
  }

  /** True when at least one complete line is waiting for {@link LineReader.next}. */
  get hasLine(): boolean {
    return this.#lineStart > 0;
  }

  /** Appends `bytes[0 .. len)`. False when a line exceeds the bound (complete or not). */
  push(bytes: Uint8Array, len: number): boolean {
    if (this.#len + len > this.#buf.length) {
      let size = this.#buf.length;
      while (size < this.#len + len) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.#buf.subarray(0, this.#len));
      this.#buf = grown;
    }
    const buf = this.#buf;
    const from = this.#len;
    buf.set(bytes.subarray(0, len), from);
    this.#len += len;
    let ok = true;
    for (let i = from; i < this.#len; i++) {
      if (buf[i] === 0x0a) {
        if (i - this.#lineStart > this.#max) ok = false;
        this.#lineStart = i + 1;
      }
    }
    return ok && this.#len - this.#lineStart <= this.#max;
  }

  /** The next complete line (UTF-8, without "\n" or a trailing "\r"), or null. */
  next(): string | null {
    const nl = this.#buf.subarray(0, this.#len).indexOf(0x0a);
    if (nl < 0) return null;
    const end = nl > 0 && this.#buf[nl - 1] === 0x0d ? nl - 1 : nl;
    const line = decoder.decode(this.#buf.subarray(0, end));
    this.#buf.copyWithin(0, nl + 1, this.#len);
    this.#len -= nl + 1;
    this.#lineStart -= nl + 1;
    return line;
  }
}
