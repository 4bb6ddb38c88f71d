/**
 * Recording frames to a classic pcap file (readable by tcpdump and Wireshark): a buffered writer,
 * and a device wrapper that records every frame a device receives and sends.
 *
 * File format (https://wiki.wireshark.org/Development/LibpcapFileFormat, and
 * draft-ietf-opsawg-pcap): a 24-byte global header (magic 0xa1b2c3d4 = microsecond timestamps,
 * version 2.4, snaplen, link type), then per frame a 16-byte record header (seconds, microseconds,
 * captured length, original length) and the bytes. Fields are in the writer's byte order, which
 * the reader learns from the magic; we write little-endian.
 *
 * @module
 */

import { DeviceDecorator } from "./decorator.ts";
import type { Device, FrameHandler } from "./device.ts";
import type { FrameOffload } from "./offload.ts";
import { DeviceError } from "./errors.ts";
import { copyBytes } from "./_copy.ts";

/** Microsecond-resolution classic pcap magic. */
export const PCAP_MAGIC = 0xa1b2c3d4;
/** LINKTYPE_ETHERNET (tcpdump.org/linktypes.html). */
export const LINKTYPE_ETHERNET = 1;
/** Bytes kept of each frame. */
export const PCAP_SNAPLEN = 65535;
const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;
/** Buffered bytes before a write reaches the file: one syscall per ~64 KiB, not per frame. */
const BUFFER_BYTES = 64 * 1024;
/** Buffered records older than this are flushed at the next idle point (a live file stays fresh). */
const IDLE_FLUSH_MS = 1000;

/** Where a {@link PcapWriter} puts its bytes (a `Deno.FsFile` fits). */
export interface PcapSink {
  /** Writes some of `p`, returns how many bytes were written. */
  writeSync(p: Uint8Array): number;
  /** Releases the sink. */
  close(): void;
}

function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

/** Writes frames to a pcap file through a 64 KiB buffer. Never throws once open. */
export class PcapWriter {
  readonly #sink: PcapSink;
  readonly #buf = new Uint8Array(BUFFER_BYTES);
  #pos = 0;
  #closed = false;
  #lastFlush = 0;
  /** Frames recorded. */
  frames = 0;
  /** The first write error, if the file could not be written (recording then stops). */
  error: unknown = null;

  /** A writer over any sink; most callers use {@link PcapWriter.open}. Writes the header. */
  constructor(sink: PcapSink) {
    this.#sink = sink;
    const b = this.#buf;
    putU32(b, 0, PCAP_MAGIC);
    b[4] = 2; // version_major 2 (u16 LE)
    b[5] = 0;
    b[6] = 4; // version_minor 4
    b[7] = 0;
    putU32(b, 8, 0); // thiszone: timestamps are UTC
    putU32(b, 12, 0); // sigfigs
    putU32(b, 16, PCAP_SNAPLEN);
    putU32(b, 20, LINKTYPE_ETHERNET);
    this.#pos = GLOBAL_HEADER;
    this.#lastFlush = performance.now();
  }

  /**
   * Creates (truncates) the file at `path`. Needs `--allow-write` for that path; the
   * {@link DeviceError} says so when it is missing.
   */
  static open(path: string): PcapWriter {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path, { write: true, create: true, truncate: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
        throw new DeviceError(`cannot write the pcap file ${path}: not permitted`, {
          hint: `run with --allow-write=${path}`,
          cause: e,
        });
      }
      throw new DeviceError(`cannot create the pcap file ${path}: ${String(e)}`, { cause: e });
    }
    return new PcapWriter(file);
  }

  /**
   * Records `buf[off .. off+len)` with timestamp `timeMs` (milliseconds since the epoch, may be
   * fractional; default: now, to the microsecond). Frames beyond the snaplen are cut to it.
   */
  write(buf: Uint8Array, off: number, len: number, timeMs?: number): void {
    // After a write error the recording has stopped: never throw into the packet path.
    if (this.#closed || this.error !== null) return;
    const t = timeMs ?? performance.timeOrigin + performance.now();
    const sec = Math.floor(t / 1000);
    let usec = Math.round((t - sec * 1000) * 1000);
    if (usec > 999999) usec = 999999;
    const incl = len > PCAP_SNAPLEN ? PCAP_SNAPLEN : len;
    if (this.#pos + RECORD_HEADER + incl > BUFFER_BYTES) {
      this.flush();
      if (this.#closed) return;
    }
    const b = this.#buf;
    const p = this.#pos;
    putU32(b, p, sec);
    putU32(b, p + 4, usec);
    putU32(b, p + 8, incl);
    putU32(b, p + 12, len);
    if (RECORD_HEADER + incl <= BUFFER_BYTES) {
      copyBytes(buf, off, b, p + RECORD_HEADER, incl);
      this.#pos = p + RECORD_HEADER + incl;
    } else {
      // Larger than the whole buffer (only frames near 64 KiB): header, then the bytes directly.
      this.#pos = p + RECORD_HEADER;
      this.flush();
      this.#writeAll(buf.subarray(off, off + incl));
    }
    this.frames++;
  }

  /** Writes the buffered bytes to the file. */
  flush(): void {
    if (this.error !== null) this.#pos = 0;
    if (this.#pos === 0 || this.error !== null) return;
    this.#writeAll(this.#buf.subarray(0, this.#pos));
    this.#pos = 0;
    this.#lastFlush = performance.now();
  }

  /** Flushes if something has been buffered for more than a second (for idle points). */
  flushIfStale(): void {
    if (this.#pos > 0 && performance.now() - this.#lastFlush > IDLE_FLUSH_MS) this.flush();
  }

  #writeAll(bytes: Uint8Array): void {
    try {
      let done = 0;
      while (done < bytes.length) done += this.#sink.writeSync(bytes.subarray(done));
    } catch (e) {
      // A full disk must not take the stack down: report once and stop recording.
      this.error = e;
      console.error("pcap: write failed, recording stopped:", e);
      this.#pos = 0;
    }
  }

  /** Flushes and closes the file. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    try {
      this.#sink.close();
    } catch (e) {
      if (this.error === null) this.error = e;
    }
  }
}

/**
 * Wraps a device and records every frame it receives and every frame it sends successfully
 * (dropped sends never reached the link, so they are not in the file). close() closes the inner
 * device and then the writer, so a SIGINT handler that closes the device leaves a complete file.
 */
export class PcapDevice extends DeviceDecorator {
  readonly #writer: PcapWriter;

  /** Records `inner`'s traffic into `writer` (which this device then owns). */
  constructor(inner: Device, writer: PcapWriter) {
    super(inner);
    this.#writer = writer;
  }

  /** The writer frames go to. */
  get writer(): PcapWriter {
    return this.#writer;
  }

  /** Runs the inner loop, recording each frame before `onFrame` sees it (and may rewrite it). */
  run(onFrame: FrameHandler, onIdle?: () => void): Promise<void> {
    const writer = this.#writer;
    return this.inner.run(
      (buf, off, len) => {
        writer.write(buf, off, len);
        onFrame(buf, off, len);
      },
      () => {
        writer.flushIfStale();
        if (onIdle !== undefined) onIdle();
      },
    );
  }

  /**
   * Sends through the inner device, with the frame's offload metadata; records the frame if it
   * was handed to the link.
   */
  send(buf: Uint8Array, off: number, len: number, offload: FrameOffload | null = null): boolean {
    const ok = this.inner.send(buf, off, len, offload);
    if (ok) this.#writer.write(buf, off, len);
    return ok;
  }

  /** Closes the inner device, then flushes and closes the file. Idempotent. */
  close(): void {
    this.inner.close();
    this.#writer.close();
  }
}
