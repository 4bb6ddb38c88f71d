/**
 * Random sequences of inserts, lookups, packets, time steps, sweeps and removals, run against the
 * table and against a plain Map model of what it should hold: states, deadlines (with the short
 * embryonic timeout for unproven flows and under pressure), and which flow a full table evicts
 * (the oldest embryonic one, never an established one while an embryonic one exists).
 */
import fc from "fast-check";
import { assertEquals } from "../../assert.ts";
import { FakeClock } from "../../../stack/clock.ts";
import { RealServer } from "../../../lb/service.ts";
import {
  ConnTable,
  DEFAULT_EMBRYONIC_TIMEOUT_MS,
  PROTO_TCP,
  PROTO_UDP,
} from "../../../lb/conntrack/table.ts";
import {
  ACTIVE_ESTABLISHED_ONLY,
  ConnState,
  DEFAULT_TIMEOUTS_MS,
  Direction,
  nextTcpState,
  STATE_NAMES,
  TABLE_INPUT_ONLY,
} from "../../../lb/conntrack/tcp_states.ts";

const CAPACITY = 6;
/** The default pressure fraction, 0.75, of CAPACITY. */
const PRESSURE_AT = 4;
const SHORT = DEFAULT_EMBRYONIC_TIMEOUT_MS;
const VIP = 0xcb007105;

/** Flow keys: few enough to collide and refill; client ports unique so "out" keys are too. */
const KEYS = Array.from({ length: 16 }, (_, i) => ({
  proto: i % 3 === 0 ? PROTO_UDP : PROTO_TCP,
  cip: 0x0a000001 + (i % 4),
  cport: 5000 + i,
  vport: i % 2 ? 80 : 443,
}));

interface ModelEntry {
  real: number;
  state: number;
  expires: number;
  method: "dr" | "nat";
  noOutput: boolean;
  tcp: boolean;
  /** No packet tracked yet (the creating packet comes next). */
  fresh: boolean;
  /** At most one packet tracked. */
  unproven: boolean;
  /** When it last joined the embryonic list (the FIFO order). */
  embSeq: number;
}

const EMBRYONIC_TCP = new Set<number>([
  ConnState.NONE,
  ConnState.SYN_RECV,
  ConnState.SYN_SENT,
  ConnState.SYNACK,
]);
const isEmbryonic = (e: ModelEntry) => e.unproven || (e.tcp && EMBRYONIC_TCP.has(e.state));

type Cmd =
  | { t: "insert"; key: number; real: number; nat: boolean }
  | { t: "open"; key: number; real: number; nat: boolean }
  | { t: "lookup"; key: number; out: boolean }
  | { t: "packet"; key: number; dir: number; flags: number }
  | { t: "advance"; ms: number }
  | { t: "sweep" }
  | { t: "removeByReal"; real: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant("insert" as const),
      key: fc.nat(15),
      real: fc.nat(2),
      nat: fc.boolean(),
    }),
  },
  {
    // A client's SYN and ACK right after the insert: an established flow.
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("open" as const),
      key: fc.nat(15),
      real: fc.nat(2),
      nat: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ t: fc.constant("lookup" as const), key: fc.nat(15), out: fc.boolean() }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant("packet" as const),
      key: fc.nat(15),
      dir: fc.constantFrom(Direction.INPUT, Direction.OUTPUT),
      flags: fc.constantFrom(0x02, 0x12, 0x10, 0x11, 0x04, 0x00),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("advance" as const),
      ms: fc.constantFrom(1, 100, 500, 1_999, 2_000, 10_000, 60_000, 300_000, 900_000),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("sweep" as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant("removeByReal" as const), real: fc.nat(2) }),
  },
);

Deno.test("conntrack property: agrees with a Map model", () => {
  let steps = 0;
  let hits = 0;
  let refusals = 0;
  let evictions = 0;
  let shortened = 0;
  fc.assert(
    fc.property(
      fc.array(cmd, { minLength: 20, maxLength: 150, size: "max" }),
      fc.integer(),
      (cmds, seed) => {
        const clock = new FakeClock(0);
        const table = new ConnTable({ capacity: CAPACITY, clock, seed, sweepBudget: CAPACITY });
        const reals = [0, 1, 2].map((i) => new RealServer({ address: 0x0a0a0a01 + i, port: 8000 }));
        const model = new Map<number, ModelEntry>();
        let seq = 0;
        const evictionsBefore = evictions;
        let evictionsHere = 0;
        const rip = (e: ModelEntry) => reals[e.real].address;

        /** The table's answer for a key, checked against (and updating) the model. */
        const find = (k: number, out: boolean): number => {
          const key = KEYS[k];
          const e = model.get(k);
          const slot = out
            ? table.lookupOut(key.proto, e ? rip(e) : reals[0].address, 8000, key.cip, key.cport)
            : table.lookupIn(key.proto, key.cip, key.cport, VIP, key.vport);
          if (e === undefined) {
            assertEquals(slot, -1);
          } else if (e.expires <= clock.now()) {
            assertEquals(slot, -1);
            model.delete(k); // the lookup freed it
          } else {
            assertEquals(slot >= 0, true);
            assertEquals(table.real(slot), reals[e.real]);
            assertEquals(table.stateName(slot), STATE_NAMES[e.state]);
            assertEquals(table.expiresAt(slot), e.expires);
            hits++;
          }
          return slot;
        };

        const expanded: Cmd[] = cmds.flatMap((c): Cmd[] =>
          c.t === "open"
            ? [
              { ...c, t: "insert" },
              { t: "packet", key: c.key, dir: Direction.INPUT, flags: 0x02 },
              { t: "packet", key: c.key, dir: Direction.INPUT, flags: 0x10 },
            ]
            : [c]
        );
        for (const c of expanded) {
          switch (c.t) {
            case "open":
              throw new Error("expanded above");
            case "insert": {
              const key = KEYS[c.key];
              model.delete(c.key); // replaced (or freed if expired)
              const slot = table.insert(
                key.proto,
                key.cip,
                key.cport,
                VIP,
                key.vport,
                reals[c.real],
                8000,
                c.nat ? "nat" : "dr",
              );
              if (model.size >= CAPACITY) {
                // Full: the oldest embryonic entry makes room; with none, the flow is refused.
                let victim = -1;
                for (const [k, e] of model) {
                  if (isEmbryonic(e) && (victim < 0 || e.embSeq < model.get(victim)!.embSeq)) {
                    victim = k;
                  }
                }
                if (victim < 0) {
                  assertEquals(slot, -1);
                  refusals++;
                } else {
                  assertEquals(
                    table.lookupIn(
                      KEYS[victim].proto,
                      KEYS[victim].cip,
                      KEYS[victim].cport,
                      VIP,
                      KEYS[victim].vport,
                    ),
                    -1,
                    "the oldest embryonic entry was evicted",
                  );
                  model.delete(victim);
                  evictions++;
                  evictionsHere = evictions - evictionsBefore;
                }
              }
              if (model.size < CAPACITY) {
                assertEquals(slot >= 0, true);
                const state = key.proto === PROTO_UDP ? ConnState.UDP : ConnState.NONE;
                model.set(c.key, {
                  real: c.real,
                  state,
                  expires: clock.now() + DEFAULT_TIMEOUTS_MS[STATE_NAMES[state]],
                  method: c.nat ? "nat" : "dr",
                  noOutput: !c.nat,
                  tcp: key.proto === PROTO_TCP,
                  fresh: true,
                  unproven: true,
                  embSeq: ++seq,
                });
              }
              break;
            }
            case "lookup":
              find(c.key, c.out);
              break;
            case "packet": {
              const slot = find(c.key, false);
              if (slot < 0) break;
              const e = model.get(c.key)!;
              const wasEmbryonic = isEmbryonic(e);
              if (e.fresh) e.fresh = false;
              else e.unproven = false;
              const old = e.state;
              if (e.tcp) {
                let which = c.dir;
                if (e.noOutput) {
                  if (c.dir === Direction.OUTPUT) e.noOutput = false;
                  else which = TABLE_INPUT_ONLY;
                }
                e.state = nextTcpState(which, e.state, c.flags);
              }
              let timeout = DEFAULT_TIMEOUTS_MS[STATE_NAMES[e.state]];
              // Made without the client's SYN: short until proven.
              if (e.tcp && e.unproven && old === ConnState.NONE && e.state !== ConnState.SYN_RECV) {
                timeout = Math.min(timeout, SHORT);
              }
              if (isEmbryonic(e) && !wasEmbryonic) e.embSeq = ++seq;
              if (isEmbryonic(e) && timeout > SHORT && model.size >= PRESSURE_AT) {
                timeout = SHORT;
                shortened++;
              }
              e.expires = clock.now() + timeout;
              table.track(slot, c.dir, c.flags);
              steps++;
              break;
            }
            case "advance":
              clock.advance(c.ms);
              break;
            case "sweep": {
              let n = 0;
              for (const [k, e] of model) {
                if (e.expires <= clock.now()) {
                  model.delete(k);
                  n++;
                }
              }
              assertEquals(table.expire(), n);
              break;
            }
            case "removeByReal": {
              let n = 0;
              for (const [k, e] of model) {
                if (e.real === c.real) {
                  model.delete(k);
                  n++;
                }
              }
              assertEquals(table.removeByReal(reals[c.real]), n);
              break;
            }
          }
          // Invariants after every step: size within the bound, the embryonic count, and each
          // server's active/inactive counts.
          assertEquals(table.size, model.size);
          assertEquals(table.size <= CAPACITY, true);
          assertEquals(table.embryonicCount, [...model.values()].filter(isEmbryonic).length);
          assertEquals(table.counters.evicted, evictionsHere);
          reals.forEach((r, i) => {
            let active = 0, inactive = 0;
            for (const e of model.values()) {
              if (e.real !== i) continue;
              if (ACTIVE_ESTABLISHED_ONLY[e.state]) active++;
              else inactive++;
            }
            assertEquals([r.activeConns, r.inactiveConns], [active, inactive]);
          });
        }
      },
    ),
    { numRuns: 400 },
  );
  // The generator must reach the interesting cases, or the property proves little.
  assertEquals(
    steps > 500 && hits > 1000 && refusals > 20 && evictions > 50 && shortened > 20,
    true,
    `${steps} ${hits} ${refusals} ${evictions} ${shortened}`,
  );
});
