/**
 * Fixed-width text columns, as the kernel tools print them (`route -n`, `netstat -nat`,
 * `ipvsadm -L -n`): each column is left- or right-aligned to a width, separated by one space.
 *
 * @module
 */

/** Pads `text` on the right to `width` (never truncates, like printf's `%-Ns`). */
export function left(text: string | number, width: number): string {
  return String(text).padEnd(width);
}

/** Pads `text` on the left to `width` (like printf's `%Nd`). */
export function right(text: string | number, width: number): string {
  return String(text).padStart(width);
}
