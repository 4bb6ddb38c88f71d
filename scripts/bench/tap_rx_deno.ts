/**
 * The Deno side of the TAP receive benchmark (scripts/bench/tap_rx.sh): attaches a
 * {@link TapDevice} to an existing TAP and counts the frames its receive loop delivers, measured
 * exactly as the C baseline `tap_rx.c` does (see there for `rate` and `drainRate`).
 *
 * usage: deno run --allow-ffi scripts/bench/tap_rx_deno.ts IFNAME IDLE_MS MAX_SECONDS
 * prints "ready" once attached, then `{"frames": N, "rate": R, "drainRate": D, "drains": K}`.
 *
 * @module
 */

import { TAP_BURST_LIMIT, TapDevice } from "../../stack/link/tap.ts";

/** Shorter drains are wake-ups for a few frames, not a full queue (as in tap_rx.c). */
const MIN_DRAIN = 4096;

const [name, idleArg, maxArg] = Deno.args;
if (name === undefined || idleArg === undefined || maxArg === undefined) {
  console.error("usage: tap_rx_deno.ts IFNAME IDLE_MS MAX_SECONDS");
  Deno.exit(2);
}
const idleMs = Number(idleArg);
const maxMs = Number(maxArg) * 1000;

const dev = TapDevice.open({ name, create: false });
console.log("ready");

let frames = 0;
let first = 0;
let last = 0;
let firstCount = 0;
let lastCount = 0;
let idleCount = 0;
let draining = false;
let drainStart = 0;
let drainStartCount = 0;
let drainFrames = 0;
let drainTime = 0;
let drains = 0;
const start = performance.now();

// One increment per frame; the clock is read once per drain only.
function onFrame(): void {
  if (!draining) {
    draining = true;
    drainStart = performance.now();
    drainStartCount = frames;
  }
  frames++;
}

// Runs after each burst, as the idle step of tap_rx.c.
function onIdle(): void {
  const burst = frames - idleCount;
  idleCount = frames;
  const t = performance.now();
  if (burst > 0) {
    if (first === 0) {
      first = t;
      firstCount = frames;
    }
    last = t;
    lastCount = frames;
  }
  // A drain ends with the first burst shorter than the limit. If the queue emptied exactly at a
  // full burst, that short (empty) burst comes only after the next wait, so the drain's end is
  // the end of its last burst that had frames (`last`).
  if (draining && burst < TAP_BURST_LIMIT) {
    draining = false;
    if (frames - drainStartCount >= MIN_DRAIN) {
      drainFrames += frames - drainStartCount;
      drainTime += last - drainStart;
      drains++;
    }
  }
}

const timer = setInterval(() => {
  const t = performance.now();
  if ((frames > 0 && last > 0 && t - last > idleMs) || t - start > maxMs) dev.close();
}, 20);

await dev.run(onFrame, onIdle);
clearInterval(timer);
const span = (last - first) / 1000;
console.log(JSON.stringify({
  frames,
  rate: span > 0 ? Math.round((lastCount - firstCount) / span) : 0,
  drainRate: drainTime > 0 ? Math.round(drainFrames / (drainTime / 1000)) : 0,
  drains,
}));
