import { assertEquals } from "../../assert.ts";
import { healthConfigFromFlags } from "../../../lb/health/flags.ts";

Deno.test("healthConfigFromFlags: absent, defaults, every flag", () => {
  assertEquals(healthConfigFromFlags({}), null);
  assertEquals(healthConfigFromFlags({ check: "tcp" }), {
    check: { kind: "tcp" },
    timing: { intervalMs: 2000, rise: 2, fall: 3 },
    timeoutMs: 2000,
  });
  assertEquals(
    healthConfigFromFlags({
      check: "http:/h:204",
      "check-interval": "0.5",
      "check-timeout": "0.25",
      rise: "1",
      fall: "4",
    }),
    {
      check: { kind: "http", path: "/h", status: 204 },
      timing: { intervalMs: 500, rise: 1, fall: 4 },
      timeoutMs: 250,
    },
  );
});

Deno.test("healthConfigFromFlags: bad values are reasons, not exceptions", () => {
  const bad = [
    { rise: "2" },
    { check: "icmp" },
    { check: "tcp", "check-interval": "0" },
    { check: "tcp", "check-interval": "x" },
    { check: "tcp", "check-timeout": "-1" },
    { check: "tcp", rise: "0" },
    { check: "tcp", fall: "1.5" },
  ];
  for (const flags of bad) assertEquals(typeof healthConfigFromFlags(flags), "string");
});
