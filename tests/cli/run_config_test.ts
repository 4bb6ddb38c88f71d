/**
 * `lb.ts run --config FILE`: a bad file is one line naming the file, the JSON path and the
 * problem, exit code 2, before anything is opened (the TAP named here does not exist: reaching
 * it would fail differently, with exit code 1); host checks apply to the file's real servers;
 * the file cannot be mixed with the --service flags.
 */
import { assertEquals, assertMatch } from "../assert.ts";
import { main } from "../../cli/main.ts";
import { parseRunArgs } from "../../cli/commands/run.ts";

const base = ["--tap", "lbt-none0", "--ip", "10.0.0.1/24", "--gateway", "10.0.0.254"];

/** Runs main() with stderr captured; returns the exit code and the lines. */
async function runMain(args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    return { code: await main(args), lines };
  } finally {
    console.error = orig;
  }
}

const CASES: [string, unknown, RegExp][] = [
  ["weight", {
    services: [{
      protocol: "tcp",
      vip: "10.0.0.100",
      port: 80,
      reals: [{ address: "10.0.0.11", weight: 70000 }],
    }],
  }, /: \$\.services\[0\]\.reals\[0\]\.weight: 70000 is not an integer in 0\.\.65535$/],
  ["unknown key", { services: [], extra: true }, /: \$\.extra: unknown key/],
  ["health", { services: [], health: { check: "tcp", rise: 0 } }, /: \$\.health\.rise: 0 is /],
  ["dr off link", {
    services: [{ protocol: "tcp", vip: "10.0.0.100", port: 80, reals: [{ address: "10.9.0.1" }] }],
  }, /: --real 10\.9\.0\.1: direct routing needs the real server on the balancer's link/],
];

for (const [what, content, re] of CASES) {
  Deno.test(`run --config with a bad file (${what}): one line, exit 2`, async () => {
    const file = await Deno.makeTempFile({ suffix: ".json" });
    try {
      await Deno.writeTextFile(file, JSON.stringify(content));
      const { code, lines } = await runMain(["run", ...base, "--config", file]);
      assertEquals(code, 2);
      assertEquals(lines.length, 1, lines.join("\n"));
      assertMatch(lines[0], new RegExp(`^lb\\.ts: run: ${file.replace(/\./g, "\\.")}`));
      assertMatch(lines[0], re);
    } finally {
      await Deno.remove(file);
    }
  });
}

Deno.test("run --config with a missing file: exit 2 naming it", async () => {
  const { code, lines } = await runMain(["run", ...base, "--config", "/nonexistent/lb.json"]);
  assertEquals(code, 2);
  assertMatch(lines[0], /^lb\.ts: run: \/nonexistent\/lb\.json: cannot read/);
});

Deno.test('--check with a file that has "health" is refused: exit 2', async () => {
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(file, JSON.stringify({ services: [], health: { check: "tcp" } }));
    const { code, lines } = await runMain(["run", ...base, "--config", file, "--check", "tcp"]);
    assertEquals(code, 2);
    assertEquals(lines, [`lb.ts: run: --check and "health" in ${file} (give one or the other)`]);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("--config and --service together are refused", () => {
  let msg = "";
  try {
    parseRunArgs([...base, "--config", "x.json", "--service", "tcp:10.0.0.100:80"]);
  } catch (e) {
    msg = (e as Error).message;
  }
  assertEquals(msg, "run: --config replaces --service (give one or the other)");
  assertEquals(parseRunArgs([...base, "--config", "x.json"]).configFile, "x.json");
});
