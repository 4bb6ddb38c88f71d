import { assertEquals, assertMatch, assertThrows } from "../../assert.ts";
import { createScheduler, SCHEDULER_NAMES } from "../../../lb/scheduler/mod.ts";
import { MaglevScheduler } from "../../../lb/scheduler/mh.ts";

Deno.test("createScheduler: one of each by ipvsadm name", () => {
  assertEquals(SCHEDULER_NAMES, ["rr", "wrr", "lc", "wlc", "sh", "mh"]);
  for (const name of SCHEDULER_NAMES) assertEquals(createScheduler(name).name, name);
});

Deno.test("createScheduler: options reach mh", () => {
  const s = createScheduler("mh", { port: false, tableSize: 251 }) as MaglevScheduler;
  assertEquals([s.tableSize, s.usePort], [251, false]);
});

Deno.test("createScheduler: an unknown name throws and lists the valid ones", () => {
  const e = assertThrows(() => createScheduler("dh"), Error);
  assertMatch(e.message, /"dh".*rr, wrr, lc, wlc, sh, mh/);
});
