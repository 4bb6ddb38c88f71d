/**
 * The base of every header view (smoltcp's `Packet<T>` idea): a window `buf[off .. off+len)`
 * that one long-lived view object is re-pointed at for each packet, so parsing allocates nothing.
 * Subclasses add `check()` (the only gate for untrusted bytes) and the field accessors.
 *
 * @module
 */

/** A view over `buf[off .. off+len)`; call the subclass's `check()` before its accessors. */
export abstract class WireView {
  /** The buffer holding the bytes. */
  buf: Uint8Array = new Uint8Array(0);
  /** Offset of the first byte of this header in `buf`. */
  off = 0;
  /** Number of bytes the view may read: this header and what it carries. */
  len = 0;

  /** Points the view at `buf[off .. off+len)`; call `check()` before using the accessors. */
  wrap(buf: Uint8Array, off: number, len: number): this {
    this.buf = buf;
    this.off = off;
    this.len = len;
    return this;
  }

  /** Null when the bytes are safe to read through the accessors, else the drop reason. */
  abstract check(): string | null;
}
