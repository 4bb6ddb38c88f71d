/**
 * Errors of the link layer: set-up failures are {@link DeviceError}s (stack/sys/errors.ts, shared
 * with the control socket and libc), and exceptions of frame handlers are reported, not thrown.
 *
 * @module
 */

export { DeviceError, type DeviceErrorOptions } from "../sys/errors.ts";

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
