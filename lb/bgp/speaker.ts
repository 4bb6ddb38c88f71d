/**
 * `lb.ts run --bgp`: the instance's BGP speaker, made of its own BIRD (lb/bgp/supervisor.ts) in a
 * private namespace, the TAP into that namespace with a second userspace stack on it, the relay
 * between that stack and the instance's (lb/bgp/relay.ts), and the loop that keeps BIRD's
 * configuration equal to the VIPs that should be announced (lb/bgp/announcer.ts).
 *
 * @module
 */
import { TapDevice } from "../../stack/link/tap.ts";
import { Stack } from "../../stack/net/stack.ts";
import { formatIpv4 } from "../../stack/wire/address.ts";
import type { BalancerSnapshot } from "../balancer.ts";
import {
  allVips,
  announceDiff,
  type BgpSessionState,
  type BgpStatus,
  vipsToAnnounce,
} from "./announcer.ts";
import { BGP_PROTOCOL, birdConfig } from "./bird_config.ts";
import type { BgpOptions } from "./options.ts";
import { BgpRelay } from "./relay.ts";
import { birdFiles, BirdSupervisor } from "./supervisor.ts";

/** How often the announce state follows the balancer (health changes land within this). */
const ANNOUNCE_PERIOD_MS = 200;
/** How often BIRD is asked for the session state. */
const SESSION_POLL_MS = 500;

/** What the speaker needs from `lb.ts run`. */
export interface SpeakerOptions {
  /** The instance's stack (its `--ip` is the session's source and the next hop). */
  stack: Stack;
  prefix: number;
  bgp: BgpOptions;
  /** BIRD's directory: config, control socket, pid file, log. */
  runDir: string;
  snapshot: () => BalancerSnapshot;
  log: (event: string, message: string, fields?: Record<string, unknown>) => void;
}

/** The pieces one BIRD run is made of; a restart makes them all anew. */
interface Parts {
  bird: BirdSupervisor;
  inner: Stack;
  innerDone: Promise<void>;
  relay: BgpRelay;
}

/** First delay before BIRD is started again after it died; doubled up to the maximum. */
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;

/** Opens the inner TAP, starts BIRD behind it (nothing announced yet) and the relay. */
async function startParts(o: SpeakerOptions): Promise<Parts> {
  const self = o.stack.address;
  const files = birdFiles(o.runDir);
  // One TAP per instance, named after the pid so instances on one host do not collide.
  const tap = `lbbgp${Deno.pid}`.slice(0, 15);
  const device = TapDevice.open({ name: tap, mtu: 1500, offload: false, create: true });
  // The inner stack plays the router: BIRD sees its peer on its own link.
  const inner = new Stack({ device, address: o.bgp.peer, prefix: o.prefix });
  const innerDone = inner.start();
  let bird: BirdSupervisor;
  try {
    bird = await BirdSupervisor.start(
      o.runDir,
      tap,
      `${formatIpv4(self)}/${o.prefix}`,
      birdConfig({ self, bgp: o.bgp, vips: [], logFile: files.log }),
    );
  } catch (e) {
    inner.close();
    await innerDone.catch(() => {});
    throw e;
  }
  const relay = new BgpRelay(o.stack, inner, o.bgp.peer, self, o.bgp.bfd);
  o.log(
    "bgp_started",
    `BIRD pid ${bird.pid} in its own network namespace, control ${files.socket}, peer ` +
      `${formatIpv4(o.bgp.peer)} AS ${o.bgp.peerAs}, local AS ${o.bgp.localAs}` +
      (o.bgp.bfd ? ", BFD on" : ""),
    { pid: bird.pid, socket: files.socket },
  );
  return { bird, inner, innerDone, relay };
}

/** Closes what is left of a BIRD run (after BIRD has exited). */
async function closeParts(p: Parts): Promise<void> {
  p.relay.close();
  p.inner.close();
  await p.innerDone.catch(() => {});
}

/**
 * A running speaker. It supervises BIRD: if BIRD exits while the instance runs (a crash, a kill),
 * every VIP is withdrawn with it (the session ends), the event log says so, and BIRD is started
 * again after 1 s (doubling up to 30 s while it keeps failing), which then announces again.
 */
export class BgpSpeaker {
  readonly #o: SpeakerOptions;
  /** The current BIRD run; null while BIRD is being restarted. */
  #parts: Parts | null;
  /** What BIRD's configuration announces now. */
  #announced: number[] = [];
  readonly #since = new Map<number, { at: string; reason: string }>();
  #session: BgpSessionState;
  #draining = false;
  #closed = false;
  #busy = false;
  #announcements = 0;
  #withdrawals = 0;
  #restarts = 0;
  #restartDelay = RESTART_MIN_MS;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #timers: ReturnType<typeof setInterval>[] = [];

  private constructor(o: SpeakerOptions, parts: Parts) {
    this.#o = o;
    this.#parts = parts;
    this.#session = {
      peer: formatIpv4(o.bgp.peer),
      peerAs: o.bgp.peerAs,
      localAs: o.bgp.localAs,
      bfd: o.bgp.bfd,
      state: "unknown",
      since: "",
      info: "",
    };
  }

  /** Starts BIRD and the relay, then announces what should be announced. */
  static async start(o: SpeakerOptions): Promise<BgpSpeaker> {
    const sp = new BgpSpeaker(o, await startParts(o));
    sp.#watch(sp.#parts!);
    sp.#timers.push(setInterval(() => sp.#follow(), ANNOUNCE_PERIOD_MS));
    sp.#timers.push(setInterval(() => sp.#pollSession(), SESSION_POLL_MS));
    await sp.#follow();
    return sp;
  }

  /** On BIRD's unexpected exit: clean up, log, restart later. */
  #watch(parts: Parts): void {
    parts.bird.exited.then(async (st) => {
      if (this.#closed || this.#parts !== parts) return;
      this.#parts = null;
      const withdrawn = this.#announced.map((v) => `${formatIpv4(v)}/32`);
      this.#announced = [];
      this.#session = { ...this.#session, state: "down", since: "", info: "BIRD exited" };
      this.#o.log(
        "bgp_bird_exited",
        `BIRD (pid ${parts.bird.pid}) exited (${st.signal ?? `code ${st.code}`}): session down, ` +
          `${withdrawn.length > 0 ? withdrawn.join(", ") : "nothing"} withdrawn; restarting in ` +
          `${this.#restartDelay / 1000} s`,
        { pid: parts.bird.pid, code: st.code, signal: st.signal, withdrawn },
      );
      await closeParts(parts);
      this.#scheduleRestart();
    });
  }

  #scheduleRestart(): void {
    if (this.#closed) return;
    const delay = this.#restartDelay;
    this.#restartDelay = Math.min(delay * 2, RESTART_MAX_MS);
    this.#restartTimer = setTimeout(async () => {
      if (this.#closed) return;
      try {
        const parts = await startParts(this.#o);
        if (this.#closed) {
          await parts.bird.stop();
          await closeParts(parts);
          return;
        }
        this.#restarts++;
        this.#restartDelay = RESTART_MIN_MS;
        this.#parts = parts;
        this.#watch(parts);
        await this.#follow();
      } catch (e) {
        this.#o.log("bgp_error", `BIRD restart failed: ${(e as Error).message}`);
        this.#scheduleRestart();
      }
    }, delay);
  }

  /** BIRD's pid (0 while it is being restarted). */
  get birdPid(): number {
    return this.#parts?.bird.pid ?? 0;
  }

  /** Makes BIRD's announced set equal to what should be announced now. */
  async #follow(): Promise<void> {
    const parts = this.#parts;
    if (this.#busy || this.#closed || parts === null) return;
    this.#busy = true;
    try {
      const snap = this.#o.snapshot();
      const want = this.#draining ? [] : vipsToAnnounce(snap);
      const { announce, withdraw } = announceDiff(this.#announced, want);
      if (announce.length === 0 && withdraw.length === 0) return;
      await parts.bird.configure(
        birdConfig({
          self: this.#o.stack.address,
          bgp: this.#o.bgp,
          vips: want,
          logFile: parts.bird.files.log,
        }),
      );
      // BIRD died meanwhile: its restart announces from scratch.
      if (this.#parts !== parts) return;
      this.#announced = want;
      const at = new Date().toISOString();
      for (const v of announce) {
        this.#announcements++;
        this.#since.set(v, { at, reason: "healthy" });
        this.#o.log("bgp_announce", `${formatIpv4(v)}/32 announced to ${this.#session.peer}`, {
          vip: formatIpv4(v),
          peer: this.#session.peer,
        });
      }
      for (const v of withdraw) {
        this.#withdrawals++;
        const reason = this.#draining ? "draining" : "no healthy real server";
        this.#since.set(v, { at, reason });
        this.#o.log(
          "bgp_withdraw",
          `${formatIpv4(v)}/32 withdrawn from ${this.#session.peer} (${reason})`,
          { vip: formatIpv4(v), peer: this.#session.peer, reason },
        );
      }
    } catch (e) {
      if (!this.#closed) {
        this.#o.log("bgp_error", `BIRD reconfiguration failed: ${(e as Error).message}`);
      }
    } finally {
      this.#busy = false;
    }
  }

  async #pollSession(): Promise<void> {
    const parts = this.#parts;
    if (this.#closed || parts === null) return;
    try {
      const p = (await parts.bird.protocols()).find((x) => x.name === BGP_PROTOCOL);
      if (p === undefined || this.#parts !== parts) return;
      const before = this.#session;
      this.#session = { ...before, state: p.state, since: p.since, info: p.info };
      if (before.info !== p.info && before.state !== "unknown") {
        this.#o.log("bgp_session", `BGP ${before.peer}: ${before.info} -> ${p.info}`, {
          peer: before.peer,
          state: p.state,
          info: p.info,
        });
      }
    } catch {
      // BIRD is gone or busy: the next poll tries again; its exit is logged by start()
    }
  }

  /** Withdraws every VIP (graceful drain's first step); resolves once BIRD has it. */
  async withdrawAll(): Promise<void> {
    this.#draining = true;
    for (let i = 0; i < 50 && this.#busy; i++) await new Promise((r) => setTimeout(r, 20));
    await this.#follow();
  }

  /** The state for `lb.ts list` and `/metrics`. */
  status(): BgpStatus {
    const announced = new Set(this.#announced);
    const start = new Date(performance.timeOrigin).toISOString();
    return {
      sessions: [this.#session],
      vips: allVips(this.#o.snapshot()).map((v) => {
        const s = this.#since.get(v);
        return {
          prefix: `${formatIpv4(v)}/32`,
          announced: announced.has(v),
          since: s?.at ?? start,
          reason: announced.has(v)
            ? "healthy"
            : (s?.reason ?? (this.#draining ? "draining" : "no healthy real server")),
        };
      }),
      draining: this.#draining,
      birdPid: this.birdPid,
      birdRestarts: this.#restarts,
      runDir: this.#o.runDir,
      announcements: this.#announcements,
      withdrawals: this.#withdrawals,
      relay: this.#parts === null
        ? { bgpConnections: 0, bgpRefused: 0, bfdOut: 0, bfdIn: 0 }
        : { ...this.#parts.relay.stats },
    };
  }

  /**
   * Closes the session with a Cease (RFC 4271 6.7: `birdc disable`), then the relay and the inner
   * stack, then stops BIRD (its namespace and the TAP go with it). Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    clearTimeout(this.#restartTimer);
    const parts = this.#parts;
    if (parts === null) return;
    try {
      await parts.bird.birdc(["disable", BGP_PROTOCOL]);
      // Let the relay carry the Cease out before it closes.
      await new Promise((r) => setTimeout(r, 100));
    } catch {
      // BIRD is gone already: nothing to say goodbye with
    }
    await closeParts(parts);
    await parts.bird.stop();
  }
}
