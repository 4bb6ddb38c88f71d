/**
 * Tests that need something this machine may lack (root, /dev/net/tun, --allow-ffi): outside CI
 * they are skipped, saying why; under `CI=true` they run and fail with the reason, so a CI
 * machine that cannot run them is red, not quietly green.
 *
 * @module
 */

/** True when the environment says this is CI (`CI=true`). */
export const inCi = Deno.env.get("CI") === "true";

/** Why tests that create TAP devices and namespaces cannot run here, or null when they can. */
export const rootTapMissing: string | null = (() => {
  if (Deno.build.os !== "linux") return "TAP devices and network namespaces need Linux";
  if (Deno.uid() !== 0) {
    return "needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create TAP devices and namespaces";
  }
  try {
    Deno.statSync("/dev/net/tun");
  } catch {
    return "/dev/net/tun is missing (modprobe tun)";
  }
  return null;
})();

/**
 * Declares `def` as a test that needs `missing` to be null: run as usual when it is; skipped with
 * the reason in its name outside CI; under CI=true run as a test that fails with the reason.
 */
export function testNeeding(missing: string | null, def: Deno.TestDefinition): void {
  if (missing === null) {
    Deno.test(def);
  } else if (inCi) {
    Deno.test({
      ...def,
      ignore: false,
      fn() {
        throw new Error(`cannot run under CI=true: ${missing}`);
      },
    });
  } else {
    Deno.test({ ...def, name: `${def.name} [skipped: ${missing}]`, ignore: true });
  }
}

/**
 * Why `program` cannot run here (not on PATH, with the setup.sh command that installs it), or
 * null when it is there.
 */
export function programMissing(program: string, install: string): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    try {
      if (Deno.statSync(`${dir}/${program}`).isFile) return null;
    } catch { /* not in this directory */ }
  }
  return `${program} is not installed (${install} installs it)`;
}
