/**
 * The error a link device (or the control socket) throws when it cannot be set up: what went
 * wrong, the errno behind it, and a hint telling the user what to do about it. Only set-up throws;
 * a running receive loop never does (bad frames are counted, not thrown).
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

/** How many handler errors a receive loop prints before it only counts them. */
const HANDLER_ERRORS_PRINTED = 10;

/**
 * Reports an exception thrown by a frame or idle handler. A handler that throws is the caller's
 * bug (device.ts: "the loop reports them and goes on"), so the loop prints the first few and
 * counts the rest instead of dying or flooding the terminal. `count` is the number of errors so
 * far, including this one.
 */
export function reportHandlerError(device: string, err: unknown, count: number): void {
  if (count <= HANDLER_ERRORS_PRINTED) {
    console.error(`${device}: a frame handler threw (error ${count}):`, err);
    if (count === HANDLER_ERRORS_PRINTED) {
      console.error(`${device}: further handler errors are counted, not printed`);
    }
  }
}
