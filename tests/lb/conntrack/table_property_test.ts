/**
 * Random sequences of inserts, lookups, packets, time steps, sweeps and removals, run against the
 * table and against a plain Map model of what it should hold.
 */
import fc from "fast-check";
import { assertEquals } from "../../assert.ts";
import { FakeClock } from "../../../stack/clock.ts";
import { RealServer } from "../../../lb/service.ts";
import { ConnTable, PROTO_TCP, PROTO_UDP } from "../../../lb/conntrack/table.ts";
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
const VIP = 0xcb007105;

/** Flow keys: few enough to collide and refill; client ports unique so "out" keys are too. */
const KEYS = Array.from({ length: 10 }, (_, i) => ({
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
}

type Cmd =
  | { t: "insert"; key: number; real: number; nat: boolean }
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
      key: fc.nat(9),
      real: fc.nat(2),
      nat: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ t: fc.constant("lookup" as const), key: fc.nat(9), out: fc.boolean() }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant("packet" as const),
      key: fc.nat(9),
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
  fc.assert(
    fc.property(
      fc.array(cmd, { minLength: 20, maxLength: 150, size: "max" }),
      fc.integer(),
      (cmds, seed) => {
        const clock = new FakeClock(0);
        const table = new ConnTable({ capacity: CAPACITY, clock, seed, sweepBudget: CAPACITY });
        const reals = [0, 1, 2].map((i) => new RealServer({ address: 0x0a0a0a01 + i, port: 8000 }));
        const model = new Map<number, ModelEntry>();
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

        for (const c of cmds) {
          switch (c.t) {
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
                assertEquals(slot, -1);
                refusals++;
              } else {
                assertEquals(slot >= 0, true);
                const state = key.proto === PROTO_UDP ? ConnState.UDP : ConnState.NONE;
                model.set(c.key, {
                  real: c.real,
                  state,
                  expires: clock.now() + DEFAULT_TIMEOUTS_MS[STATE_NAMES[state]],
                  method: c.nat ? "nat" : "dr",
                  noOutput: !c.nat,
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
              if (KEYS[c.key].proto === PROTO_TCP) {
                let which = c.dir;
                if (e.noOutput) {
                  if (c.dir === Direction.OUTPUT) e.noOutput = false;
                  else which = TABLE_INPUT_ONLY;
                }
                e.state = nextTcpState(which, e.state, c.flags);
              }
              e.expires = clock.now() + DEFAULT_TIMEOUTS_MS[STATE_NAMES[e.state]];
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
          // Invariants after every step: size, and each server's active/inactive counts.
          assertEquals(table.size, model.size);
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
  assertEquals(steps > 500 && hits > 1000 && refusals > 50, true, `${steps} ${hits} ${refusals}`);
});
