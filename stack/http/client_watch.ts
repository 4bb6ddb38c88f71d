/**
 * Noticing, while the server works on a request, that its client went away: the connection is
 * read on once the request body has been read (the next bytes would be a pipelined request,
 * which waits in the read buffer), so the client's FIN or a reset is seen at once, not at the
 * next write. Then the exchange is abandoned: `request.signal` aborts, a streamed answer is
 * cancelled, the connection is closed, as Deno.serve (hyper) does. A FIN can instead be taken as
 * a half-close (RFC 9293 3.6) that still gets its answer (`answerHalfClosed`).
 *
 * @module
 */

import type { HttpReader } from "./reader.ts";

/** What `request.signal` aborts with when the client goes away (Deno.serve's reason). */
export function requestCancelled(): DOMException {
  return new DOMException("The request has been cancelled.", "AbortError");
}

/** One exchange's watch over its connection. */
export class ClientWatch {
  readonly #r: HttpReader;
  readonly #close: () => void;
  readonly #answerHalfClosed: boolean;
  readonly #gone = new AbortController();
  #active = true;
  #started = false;

  /** A watch reading through `r`; `close` closes the connection when the client has gone. */
  constructor(r: HttpReader, close: () => void, answerHalfClosed: boolean) {
    this.#r = r;
    this.#close = close;
    this.#answerHalfClosed = answerHalfClosed;
  }

  /** Aborted (with {@link requestCancelled}) when the client has gone. */
  get signal(): AbortSignal {
    return this.#gone.signal;
  }

  /** Starts reading (once the request body is all read); again is a no-op. */
  start(): void {
    if (this.#started || !this.#active) return;
    this.#started = true;
    void this.#watch();
  }

  /** The client went away (a failed write says so too): abort, close. */
  leave(): void {
    if (!this.#active || this.#gone.signal.aborted) return;
    this.#gone.abort(requestCancelled());
    this.#close();
  }

  /**
   * The exchange is over: the watch stops at once; a read it left in flight is taken over by
   * the reading of the next request (HttpReader.fill joins it).
   */
  end(): void {
    this.#active = false;
  }

  async #watch(): Promise<void> {
    const r = this.#r;
    try {
      // Bytes that arrive are kept; the watch goes on until the buffer is full or the end.
      while (this.#active) {
        if (await r.fill()) continue;
        if (r.eof && !this.#answerHalfClosed) this.leave();
        return;
      }
    } catch {
      this.leave(); // reset, or closed
    }
  }
}
