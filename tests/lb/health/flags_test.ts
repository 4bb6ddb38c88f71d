import { assertEquals } from "../../assert.ts";
import { healthConfigFromFlags, healthFromOccurrences } from "../../../lb/health/flags.ts";

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

Deno.test("healthFromOccurrences: global before any --service, per group after, merged", () => {
  const occ = (...pairs: string[]) => {
    const out: { name: string; value: string }[] = [];
    for (let i = 0; i < pairs.length; i += 2) out.push({ name: pairs[i], value: pairs[i + 1] });
    return out;
  };
  const r = healthFromOccurrences(occ(
    "check",
    "tcp",
    "fall",
    "4",
    "service",
    "tcp:10.0.0.100:80",
    "service",
    "tcp:10.0.0.100:81",
    "check",
    "http:/x:200",
  ));
  if (typeof r === "string") throw new Error(r);
  assertEquals(r.global?.check, { kind: "tcp" });
  assertEquals([...r.services.keys()], [1]);
  assertEquals(r.services.get(1), {
    check: { kind: "http", path: "/x", status: 200 },
    timing: { intervalMs: 2000, rise: 2, fall: 4 },
    timeoutMs: 2000,
  });
  // Only per-service checks: no global one.
  const own = healthFromOccurrences(occ("service", "s", "check", "tcp"));
  if (typeof own === "string") throw new Error(own);
  assertEquals([own.global, [...own.services.keys()]], [null, [0]]);
  assertEquals(
    healthFromOccurrences(occ("check", "tcp", "check", "tcp")),
    "--check is given twice before any --service",
  );
  assertEquals(healthFromOccurrences(occ("service", "s", "rise", "2")), "--rise needs --check");
  assertEquals(
    healthFromOccurrences(occ("service", "s", "check", "udp")),
    '--check "udp": expected tcp or http[:PATH[:STATUS]]',
  );
});
