/**
 * Whether a stack keeps the program alive, as Deno's `ref()`/`unref()` decide it for its own
 * resources: the stack's frame loop and tick are referenced while the stack itself is (the
 * default) or while some referenced socket waits for something (an `accept()`, a `read()`, a
 * handshake). A program that `unref()`s the stack ends when nothing else is left to do.
 *
 * @module
 */

/** The reference count behind `Stack.ref()`/`unref()` and the sockets' own. */
export class LoopRef {
  #refed = true;
  #holds = 0;
  #alive = true;
  readonly #onChange: (alive: boolean) => void;

  /** `onChange(alive)` runs whenever the answer of {@link alive} flips. */
  constructor(onChange: (alive: boolean) => void) {
    this.#onChange = onChange;
  }

  /** True while the loop must keep the program alive. */
  get alive(): boolean {
    return this.#alive;
  }

  /** The stack's own reference on (the default). */
  ref(): void {
    this.#refed = true;
    this.#update();
  }

  /** The stack's own reference off: only waiting referenced sockets keep the loop alive. */
  unref(): void {
    this.#refed = false;
    this.#update();
  }

  /** Takes a hold (a referenced socket waits); call the returned function once to give it back. */
  hold(): () => void {
    this.#holds++;
    this.#update();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holds--;
      this.#update();
    };
  }

  #update(): void {
    const alive = this.#refed || this.#holds > 0;
    if (alive === this.#alive) return;
    this.#alive = alive;
    this.#onChange(alive);
  }
}
