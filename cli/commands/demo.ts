/**
 * `lb.ts demo [--scale-out] [--requests N]`: the README's demo (scripts/demo.ts): a client, three kernel HTTP
 * servers and the userspace balancer in network namespaces, a few hundred requests through the
 * VIP, the distribution and the `list --stats` table, then everything torn down. It needs root
 * (namespaces, bridges, a TAP) and `deno run -A` (it runs ip, python3 and curl); without them it
 * says so and exits 1. `--scale-out` runs the scale-out demo instead (scripts/demo_scale_out.ts):
 * three `--bgp` instances behind a router with BIRD and ECMP, one of them killed (needs bird2).
 *
 * The demo is a script of the repository (it builds its network with the test harness,
 * tests/netns/), not part of the product: the command runs it as a program of its own, from the
 * checkout lb.ts runs from, rather than importing it.
 *
 * @module
 */
import { intArg, parseFlags, str } from "../args.ts";

/** Runs `lb.ts demo`; returns the exit code. */
export async function demoCommand(args: string[]): Promise<number> {
  const { flags } = parseFlags("demo", args, {
    requests: { type: "string" },
    "scale-out": { type: "boolean" },
  });
  const r = str(flags, "requests");
  const requests = r === undefined ? 300 : intArg(r, "--requests", 3, 10_000);
  const missing = (["run", "read", "write", "sys", "env"] as const).filter((name) =>
    Deno.permissions.querySync({ name }).state !== "granted"
  );
  if (missing.length > 0) {
    console.error(
      "lb.ts demo: needs `deno run -A lb.ts demo` (or `deno task demo`): it runs ip, python3 " +
        `and curl, and writes temporary files (missing: --allow-${missing.join(", --allow-")})`,
    );
    return 1;
  }
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) {
    console.error(
      "lb.ts demo: needs root: it creates network namespaces, bridges, veth pairs and a TAP " +
        "device (CAP_NET_ADMIN), which an unprivileged user cannot",
    );
    return 1;
  }
  // The plain demo or the scale-out one (scripts/demo_scale_out.ts), each its own program.
  const name = flags["scale-out"] === true ? "demo_scale_out.ts" : "demo.ts";
  const script = new URL(`../../scripts/${name}`, import.meta.url);
  if (script.protocol !== "file:") {
    console.error(`lb.ts demo: runs from a checkout of the repository (scripts/${name})`);
    return 1;
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script.pathname, String(requests)],
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  return (await child.status).code;
}
