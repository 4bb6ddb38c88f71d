/**
 * Reading a message body as its framing delimits it (RFC 9112 6): a Content-Length count of
 * bytes, or chunked transfer coding (RFC 9112 7.1: chunk-size [chunk-ext] CRLF data CRLF ...,
 * a last chunk, trailer fields, CRLF). Pieces are handed out as they arrive, so a body of any
 * size streams through one read buffer, and nothing is read before someone asks
 * (backpressure reaches the peer through the TCP window).
 *
 * @module
 */

import { HttpError } from "./errors.ts";
import type { BodyFraming } from "./head.ts";
import type { HttpReader } from "./reader.ts";

/** Longest chunk-size line (size and extensions) accepted. */
const MAX_CHUNK_LINE = 4096;
/** Largest trailer section accepted. */
const MAX_TRAILER_BYTES = 16 * 1024;
/** RFC 9112 7.1: chunk-size, then optional extensions after BWS ";". */
const CHUNK_LINE = /^([0-9a-fA-F]{1,12})(?:[ \t]*;.*)?$/;

/** The body of one message, read piece by piece. */
export class BodyReader {
  readonly #r: HttpReader;
  readonly #chunked: boolean;
  /** Bytes left in the body (length framing) or in the current chunk (chunked). */
  #left: number;
  #done: boolean;
  /** A chunk's data was read whole: its CRLF comes next. */
  #crlfDue = false;
  /** Body bytes handed out so far. */
  total = 0;

  /** A reader of the body `framing` describes, from `r`. */
  constructor(r: HttpReader, framing: BodyFraming) {
    this.#r = r;
    this.#chunked = framing.kind === "chunked";
    this.#left = framing.kind === "length" ? framing.length : 0;
    this.#done = framing.kind === "none";
  }

  /** True once the whole body (and a chunked body's trailer) was read. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * The next piece of the body, at most `max` bytes, as a view into the read buffer (valid until
   * the next call); null at the end of the body. A body cut short or malformed is an HttpError.
   */
  async next(max = 64 * 1024): Promise<Uint8Array | null> {
    if (this.#done) return null;
    if (this.#chunked && this.#left === 0) {
      if (this.#crlfDue) {
        // Checked here, not right after the data: reading it could refill the buffer under the
        // view the previous call handed out.
        const end = await this.#r.line(0);
        if (end !== "") throw new HttpError(400, "chunk data not followed by CRLF");
        this.#crlfDue = false;
      }
      const size = await this.#chunkSize();
      if (size === 0) {
        await this.#trailer();
        this.#done = true;
        return null;
      }
      this.#left = size;
    }
    const piece = await this.#r.chunk(Math.min(max, this.#left));
    if (piece === null) throw new HttpError(400, "body cut short");
    this.#left -= piece.length;
    this.total += piece.length;
    if (this.#left === 0) {
      if (this.#chunked) this.#crlfDue = true;
      else this.#done = true;
    }
    return piece;
  }

  /** Reads and drops the rest of the body, up to `limit` bytes; true if it ended within it. */
  async skip(limit: number): Promise<boolean> {
    while (!this.#done) {
      const before = this.total;
      if (before >= limit) return false;
      if (await this.next(limit - before) === null) break;
    }
    return true;
  }

  async #chunkSize(): Promise<number> {
    const line = await this.#r.line(MAX_CHUNK_LINE);
    if (line === null) throw new HttpError(400, "chunked body cut short");
    const m = CHUNK_LINE.exec(line);
    if (m === null) throw new HttpError(400, "malformed chunk size");
    return parseInt(m[1], 16);
  }

  /** Trailer fields (RFC 9112 7.1.2) are read and dropped, up to the empty line. */
  async #trailer(): Promise<void> {
    let budget = MAX_TRAILER_BYTES;
    while (true) {
      const t = await this.#r.line(budget, 431);
      if (t === null) throw new HttpError(400, "trailer cut short");
      if (t === "") return;
      budget -= t.length + 2;
      if (budget < 0) throw new HttpError(431, "trailer too large");
    }
  }
}
