import { assertEquals, assertThrows } from "../assert.ts";
import { formatLogLine, RecentEvents } from "../../lb/log.ts";

const AT = new Date("2026-11-25T12:00:00.000Z");

Deno.test("log lines: plain is 'TS EVENT message'; json is one object with the fields", () => {
  assertEquals(
    formatLogLine("plain", "reloaded", "/etc/lb.json: 2 change(s)", { changes: ["a", "b"] }, AT),
    "2026-11-25T12:00:00.000Z reloaded /etc/lb.json: 2 change(s)",
  );
  const line = formatLogLine("json", "config", "added server 10.0.0.1:80", { n: 1 }, AT);
  assertEquals(line.includes("\n"), false);
  assertEquals(JSON.parse(line), {
    ts: "2026-11-25T12:00:00.000Z",
    event: "config",
    message: "added server 10.0.0.1:80",
    n: 1,
  });
});

Deno.test("RecentEvents: the last N events, oldest first, bounded", () => {
  const ev = new RecentEvents(3);
  for (let i = 0; i < 10; i++) ev.add("config", `change ${i}`, new Date(AT.getTime() + i * 1000));
  assertEquals(ev.list(), [
    { ts: "2026-11-25T12:00:07.000Z", event: "config", message: "change 7" },
    { ts: "2026-11-25T12:00:08.000Z", event: "config", message: "change 8" },
    { ts: "2026-11-25T12:00:09.000Z", event: "config", message: "change 9" },
  ]);
  assertThrows(() => new RecentEvents(0), RangeError);
});
