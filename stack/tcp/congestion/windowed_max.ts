/**
 * A windowed maximum: the largest value seen within the last `window` ticks (rounds for BBR's
 * bottleneck bandwidth), in O(1) space and time by keeping the best, second best and third best
 * candidates of successive sub-windows (Kathleen Nichols' algorithm, as Linux's lib/win_minmax.c).
 *
 * @module
 */

/** Running windowed maximum of (tick, value) samples. */
export class WindowedMax {
  readonly #t = new Float64Array(3);
  readonly #v = new Float64Array(3);

  /** The maximum within the window (0 before any sample). */
  get value(): number {
    return this.#v[0];
  }

  /** Forgets everything, starting again from `value` at `tick`. */
  reset(tick: number, value: number): void {
    for (let i = 0; i < 3; i++) {
      this.#t[i] = tick;
      this.#v[i] = value;
    }
  }

  /** Takes the sample `value` at `tick` (ticks never go backwards); returns the maximum. */
  update(window: number, tick: number, value: number): number {
    const t = this.#t;
    const v = this.#v;
    if (value >= v[0] || tick - t[2] > window) {
      this.reset(tick, value); // a new maximum, or nothing left in the window
      return value;
    }
    if (value >= v[1]) {
      t[1] = t[2] = tick;
      v[1] = v[2] = value;
    } else if (value >= v[2]) {
      t[2] = tick;
      v[2] = value;
    }
    // Age the candidates out (lib/win_minmax.c minmax_subwin_update).
    const dt = tick - t[0];
    if (dt > window) {
      t[0] = t[1];
      v[0] = v[1];
      t[1] = t[2];
      v[1] = v[2];
      t[2] = tick;
      v[2] = value;
      if (tick - t[0] > window) {
        t[0] = t[1];
        v[0] = v[1];
        t[1] = t[2];
        v[1] = v[2];
      }
    } else if (t[1] === t[0] && dt > window / 4) {
      t[1] = t[2] = tick;
      v[1] = v[2] = value;
    } else if (t[2] === t[1] && dt > window / 2) {
      t[2] = tick;
      v[2] = value;
    }
    return v[0];
  }
}
