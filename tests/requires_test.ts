/**
 * testNeeding: a test that cannot run here is skipped with its reason, except under CI=true,
 * where it fails with the reason (run in a child `deno test` with and without CI=true).
 */
import { assert, assertMatch } from "./assert.ts";
import { own, startProgram } from "./programs.ts";

const requires = new URL("./requires.ts", import.meta.url).href;

async function childTest(ci: boolean): Promise<{ code: number; text: string }> {
  const dir = await Deno.makeTempDir({ prefix: "lbts-requires-" });
  try {
    const file = `${dir}/needs_test.ts`;
    await Deno.writeTextFile(
      file,
      `import { testNeeding } from "${requires}";\n` +
        `testNeeding("no unicorn on this machine", { name: "needs a unicorn", fn() {} });\n` +
        `testNeeding(null, { name: "needs nothing", fn() {} });\n`,
    );
    const env: Record<string, string> = { NO_COLOR: "1", CI: ci ? "true" : "" };
    const out = await startProgram(
      [
        own(Deno.execPath()),
        "test",
        "--no-check",
        "--no-config",
        "--allow-env",
        "--allow-sys",
        "--allow-read",
        file,
      ],
      { env, stdout: "piped", stderr: "piped" },
    ).output();
    const d = new TextDecoder();
    return { code: out.code, text: d.decode(out.stdout) + d.decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("requires: outside CI a test that cannot run is skipped with its reason", async () => {
  const r = await childTest(false);
  assert(r.code === 0, r.text);
  assertMatch(r.text, /needs a unicorn \[skipped: no unicorn on this machine\] \.\.\. ignored/);
  assertMatch(r.text, /needs nothing \.\.\. ok/);
});

Deno.test("requires: under CI=true a test that cannot run fails with its reason", async () => {
  const r = await childTest(true);
  assert(r.code !== 0, r.text);
  assertMatch(r.text, /needs a unicorn \.\.\. FAILED/);
  assertMatch(r.text, /cannot run under CI=true: no unicorn on this machine/);
  assertMatch(r.text, /needs nothing \.\.\. ok/);
});
