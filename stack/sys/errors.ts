/**
 * The error a system resource throws when it cannot be set up (a link device, the control
 * socket, libc through FFI): what went wrong, the errno behind it, and a hint telling the user
 * what to do about it. Only set-up throws; a running receive loop never does (bad frames are
 * counted, not thrown).
 *
 * @module
 */

/** Options of {@link DeviceError}. */
export interface DeviceErrorOptions {
  /** What the user can do, e.g. "load the tun module: modprobe tun". */
  hint?: string;
  /** The errno of the failed call, when there was one. */
  errno?: number;
  /** The underlying error, if any. */
  cause?: unknown;
}

/**
 * A set-up failure with an actionable hint. `message` is complete on its own:
 * `"<what happened>; <hint>"`, so a CLI can print just the message.
 */
export class DeviceError extends Error {
  /** What the user can do about it (also part of `message`). */
  readonly hint: string | undefined;
  /** The errno of the failed call, or undefined. */
  readonly errno: number | undefined;
  /** What happened, without the hint. */
  readonly reason: string;

  /** `reason` says what happened; `options.hint` what to do. */
  constructor(reason: string, options: DeviceErrorOptions = {}) {
    super(
      options.hint === undefined ? reason : `${reason}; ${options.hint}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "DeviceError";
    this.reason = reason;
    this.hint = options.hint;
    this.errno = options.errno;
  }
}
