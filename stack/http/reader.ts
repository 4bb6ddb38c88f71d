/**
 * Buffered reading of HTTP/1.1 messages from a byte-stream connection: CRLF-terminated lines
 * (RFC 9112 2.2) and body bytes. Lines are strict: a bare LF or a CR not followed by LF is
 * refused (400), because recipients that disagree on where a line ends are how requests are
 * smuggled past a front end (RFC 9112 11.2).
 *
 * @module
 */

import { HttpError } from "./errors.ts";

/** What the reader needs of a connection (`Deno.Conn` has it). */
export interface ByteSource {
  /** Reads into `p`; the count, or null at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
}

const latin1 = new TextDecoder("latin1");

/** A read buffer over one connection. */
export class HttpReader {
  /** The buffer; bytes `start .. end` are read and not yet consumed. */
  readonly buf: Uint8Array;
  /** First unconsumed byte. */
  start = 0;
  /** End of the bytes read. */
  end = 0;
  /** True once the peer ended its side. */
  eof = false;
  /** Accept a bare LF as a line end (RFC 9112 2.2 "MAY"); off: only CRLF ends a line. */
  lenient = false;
  readonly #conn: ByteSource;
  /** The read in flight, if any. */
  #filling: Promise<boolean> | null = null;

  /** A reader with a buffer of `size` bytes (at least the largest head accepted). */
  constructor(conn: ByteSource, size = 64 * 1024) {
    this.#conn = conn;
    this.buf = new Uint8Array(size);
  }

  /** Bytes read and not consumed. */
  get buffered(): number {
    return this.end - this.start;
  }

  /**
   * Reads more bytes after the buffered ones; false at end of stream or with a full buffer. A
   * call while a read is in flight joins it (the server watches an idle-looking connection for
   * the client's close while a handler runs, and the next request's reading takes that read
   * over), so two reads never fill the buffer at once.
   */
  fill(): Promise<boolean> {
    if (this.#filling !== null) return this.#filling;
    if (this.eof) return Promise.resolve(false);
    if (this.start === this.end) {
      this.start = 0;
      this.end = 0;
    } else if (this.end === this.buf.length) {
      this.buf.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    if (this.end === this.buf.length) return Promise.resolve(false);
    const p = this.#read();
    this.#filling = p;
    return p;
  }

  /** True while a read is in flight. */
  get filling(): boolean {
    return this.#filling !== null;
  }

  /** One read after the buffered bytes (always awaits before settling: see fill). */
  async #read(): Promise<boolean> {
    try {
      const n = await this.#conn.read(this.buf.subarray(this.end));
      if (n === null) {
        this.eof = true;
        return false;
      }
      this.end += n;
      return true;
    } finally {
      this.#filling = null;
    }
  }

  /**
   * The next line without its CRLF; null at end of stream before any byte of it. A line longer
   * than `max` is an HttpError with `tooLong` (431 for heads, 400 elsewhere); a bare LF, a bare
   * CR, or a stream that ends inside a line is a 400.
   */
  async line(max: number, tooLong = 400): Promise<string | null> {
    let scanned = 0;
    while (true) {
      const buf = this.buf;
      for (let i = this.start + scanned; i < this.end; i++) {
        const b = buf[i];
        if (b === 10) {
          const cr = i > this.start && buf[i - 1] === 13;
          if (!cr && !this.lenient) throw new HttpError(400, "bare LF");
          const text = latin1.decode(buf.subarray(this.start, cr ? i - 1 : i));
          this.start = i + 1;
          return text;
        }
        if (b === 13 && i + 1 < this.end && buf[i + 1] !== 10) {
          throw new HttpError(400, "bare CR");
        }
      }
      // The last byte is looked at again: a CR there is judged once the next byte is in.
      scanned = this.buffered > 0 ? this.buffered - 1 : 0;
      if (scanned > max) throw new HttpError(tooLong, "line too long");
      if (!(await this.fill())) {
        if (this.buffered === 0) return null;
        if (this.eof) throw new HttpError(400, "message cut short");
        throw new HttpError(tooLong, "line too long");
      }
    }
  }

  /** Up to `max` body bytes as a view into the buffer (valid until the next read); null at EOF. */
  async chunk(max: number): Promise<Uint8Array | null> {
    if (this.buffered === 0 && !(await this.fill())) return null;
    const n = Math.min(max, this.buffered);
    const view = this.buf.subarray(this.start, this.start + n);
    this.start += n;
    return view;
  }
}
