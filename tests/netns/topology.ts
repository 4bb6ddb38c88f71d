/**
 * The namespace harness: builds small networks out of Linux network namespaces, bridges, veth
 * pairs and TAP devices for the integration tests, with the kernel's own tools as peers.
 *
 * Every name carries a per-run suffix so concurrent runs never collide, and everything a topology
 * created is torn down by `destroy()` — which `netnsTest` calls in a `finally`, and which a
 * SIGINT/SIGTERM handler calls too — including the processes it started, which are ended by PID.
 * Deleting a namespace destroys the bridges, veths and TAPs inside it, so every device lives in a
 * namespace the topology owns; nothing is created in the root namespace.
 *
 * @module
 */

import { type Cmd, own, startProgram } from "../programs.ts";
import { rootTapMissing, testNeeding } from "../requires.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** The pinned Deno wrapper (scripts/deno). */
export const DENO = own(`${ROOT}scripts/deno`);
/** The CLI entry. */
export const LB_TS = `${ROOT}lb.ts`;

/** True when the tests run as root (namespace tests need it). */
export const isRoot = Deno.uid() === 0;

/** Why namespace tests cannot run here, or null when they can (see tests/requires.ts). */
export const skipReason: string | null = rootTapMissing;

/** The result of a finished command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A started background process that the topology will end (by PID) on destroy. */
export interface Proc {
  readonly child: Deno.ChildProcess;
  readonly pid: number;
  /** Everything the process wrote to stdout/stderr so far (collected in the background). */
  output(): string;
  /** Waits until `pattern` appears in the output, or throws after `timeoutMs`. */
  waitFor(pattern: RegExp | string, timeoutMs?: number): Promise<void>;
  /** Sends a signal (SIGTERM by default) and waits for the exit status (bounded). */
  stop(signal?: Deno.Signal, timeoutMs?: number): Promise<Deno.CommandStatus>;
  readonly status: Promise<Deno.CommandStatus>;
}

const decoder = new TextDecoder();

/** Runs a command to completion (bounded by `timeoutMs`) and returns its output. */
export async function run(cmd: Cmd, timeoutMs = 30_000): Promise<RunResult> {
  const child = startProgram(cmd, { stdout: "piped", stderr: "piped", stdin: "null" });
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, timeoutMs);
  try {
    const out = await child.output();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a command and throws (with its output) unless it exits 0. */
export async function runOk(cmd: Cmd, timeoutMs = 30_000): Promise<string> {
  const r = await run(cmd, timeoutMs);
  if (r.code !== 0) {
    throw new Error(`${cmd.join(" ")} exited ${r.code}\n${r.stdout}${r.stderr}`);
  }
  return r.stdout;
}

/** A short random suffix for names (kept short: interface names are at most 15 bytes). */
export function uniqueSuffix(): string {
  const b = crypto.getRandomValues(new Uint8Array(3));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

const live = new Set<Topology>();
let signalsInstalled = false;

function installSignalCleanup(): void {
  if (signalsInstalled) return;
  signalsInstalled = true;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, async () => {
      await Promise.allSettled([...live].map((t) => t.destroy()));
      Deno.exit(130);
    });
  }
}

/** A network of namespaces built for one test. */
export class Topology {
  /** The per-run suffix carried by every name this topology creates. */
  readonly suffix = uniqueSuffix();
  readonly #namespaces: string[] = [];
  readonly #procs: Proc[] = [];
  readonly #tempFiles: string[] = [];
  #destroyed = false;
  #veths = 0;

  constructor() {
    live.add(this);
    installSignalCleanup();
  }

  /** A name unique to this run: `base` plus the suffix (at most 15 characters in all). */
  name(base: string): string {
    const n = `${base}${this.suffix}`;
    if (n.length > 15) throw new Error(`name ${n} is longer than an interface name may be`);
    return n;
  }

  /** Creates a namespace with loopback up; returns its full name. */
  async netns(base: string): Promise<string> {
    const ns = `lbt-${base}-${this.suffix}`;
    await runOk(["ip", "netns", "add", ns]);
    this.#namespaces.push(ns);
    await runOk(["ip", "-n", ns, "link", "set", "lo", "up"]);
    return ns;
  }

  /** Creates a bridge inside `ns` and sets it up. */
  async bridge(ns: string, base: string): Promise<string> {
    const br = this.name(base);
    await runOk(["ip", "-n", ns, "link", "add", br, "type", "bridge"]);
    // Forward at once: no STP learning delay in a test network.
    await runOk(["ip", "-n", ns, "link", "set", br, "type", "bridge", "forward_delay", "0"]);
    await runOk(["ip", "-n", ns, "link", "set", br, "up"]);
    // With br_netfilter loaded (Docker loads it), bridged IPv4 goes through iptables, which
    // validates and drops malformed headers before they reach the TAP. A test switch must be a
    // plain L2 switch: turn that off in this namespace (the sysctls are per namespace; absent
    // when br_netfilter is not loaded, hence no check).
    for (const family of ["iptables", "ip6tables", "arptables"]) {
      await this.exec(ns, ["sysctl", "-qw", `net.bridge.bridge-nf-call-${family}=0`]);
    }
    return br;
  }

  /**
   * Connects namespace `ns` to bridge `br` in namespace `brNs` with a veth pair. The end in `ns`
   * is named `ifname` and gets `cidr` (e.g. "10.0.0.1/24"); returns its MAC.
   */
  async attach(
    ns: string,
    brNs: string,
    br: string,
    ifname: string,
    cidr: string,
  ): Promise<string> {
    const n = this.#veths++;
    const host = this.name(`vh${n}`);
    const peer = this.name(`vp${n}`);
    await runOk(["ip", "-n", brNs, "link", "add", host, "type", "veth", "peer", "name", peer]);
    await runOk(["ip", "-n", brNs, "link", "set", peer, "netns", ns]);
    await runOk(["ip", "-n", ns, "link", "set", peer, "name", ifname]);
    await runOk(["ip", "-n", brNs, "link", "set", host, "master", br]);
    await runOk(["ip", "-n", brNs, "link", "set", host, "up"]);
    await runOk(["ip", "-n", ns, "addr", "add", cidr, "dev", ifname]);
    await runOk(["ip", "-n", ns, "link", "set", ifname, "up"]);
    const info = JSON.parse(await runOk(["ip", "-n", ns, "-j", "link", "show", ifname]));
    return info[0].address as string;
  }

  /**
   * Creates a persistent TAP (`ip tuntap add mode tap`, which sets IFF_NO_PI) in `ns`, enslaved
   * to `br` (when given) and up. The userspace stack attaches to it with `--tap NAME`.
   */
  async tap(ns: string, br?: string, base = "tp"): Promise<string> {
    const tap = this.name(base);
    await runOk(["ip", "-n", ns, "tuntap", "add", "mode", "tap", "name", tap]);
    if (br) await runOk(["ip", "-n", ns, "link", "set", tap, "master", br]);
    await runOk(["ip", "-n", ns, "link", "set", tap, "up"]);
    return tap;
  }

  /** Runs a command inside a namespace to completion. */
  exec(ns: string, cmd: Cmd, timeoutMs = 30_000): Promise<RunResult> {
    return run(["ip", "netns", "exec", ns, ...cmd], timeoutMs);
  }

  /** Runs a command inside a namespace and throws unless it exits 0. */
  execOk(ns: string, cmd: Cmd, timeoutMs = 30_000): Promise<string> {
    return runOk(["ip", "netns", "exec", ns, ...cmd], timeoutMs);
  }

  /** Starts a background process inside a namespace; it is ended by PID on destroy. */
  spawn(ns: string, cmd: Cmd, env?: Record<string, string>): Proc {
    const child = startProgram(["ip", "netns", "exec", ns, ...cmd], {
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
      env,
    });
    let text = "";
    const waiters: (() => void)[] = [];
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      const dec = new TextDecoder();
      for await (const chunk of stream) {
        text += dec.decode(chunk, { stream: true });
        for (const w of waiters.splice(0)) w();
      }
    };
    const pumps = Promise.allSettled([pump(child.stdout), pump(child.stderr)]);
    const status = child.status.then(async (s) => {
      await pumps;
      for (const w of waiters.splice(0)) w();
      return s;
    });
    let exited = false;
    status.then(() => exited = true);
    const proc: Proc = {
      child,
      pid: child.pid,
      status,
      output: () => text,
      async waitFor(pattern, timeoutMs = 15_000) {
        const deadline = Date.now() + timeoutMs;
        const matches = () =>
          typeof pattern === "string" ? text.includes(pattern) : pattern.test(text);
        while (!matches()) {
          if (exited) {
            throw new Error(`process ${cmd.join(" ")} exited before printing ${pattern}:\n${text}`);
          }
          const left = deadline - Date.now();
          if (left <= 0) {
            throw new Error(`timed out waiting for ${pattern} from ${cmd.join(" ")}:\n${text}`);
          }
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, Math.min(left, 200));
            waiters.push(() => {
              clearTimeout(t);
              resolve();
            });
          });
        }
      },
      async stop(signal: Deno.Signal = "SIGTERM", timeoutMs = 10_000) {
        if (!exited) {
          try {
            child.kill(signal);
          } catch { /* gone */ }
        }
        const t = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* gone */ }
        }, timeoutMs);
        try {
          return await status;
        } finally {
          clearTimeout(t);
        }
      },
    };
    this.#procs.push(proc);
    return proc;
  }

  /** Starts `lb.ts ARGS...` (with the pinned Deno and --allow-ffi plus `perms`) inside `ns`. */
  lb(ns: string, args: string[], perms: string[] = []): Proc {
    return this.spawn(ns, [DENO, "run", "--allow-ffi", ...perms, LB_TS, ...args], {
      NO_COLOR: "1",
    });
  }

  /** Runs `lb.ts ARGS...` to completion (no namespace needed for control-channel commands). */
  lbRun(args: string[], timeoutMs = 30_000): Promise<RunResult> {
    return run([DENO, "run", "--allow-ffi", LB_TS, ...args], timeoutMs);
  }

  /** The counters of the running instance behind `control` (`lb.ts stats --json`). */
  async counters(control: string): Promise<Record<string, number>> {
    const r = await this.lbRun(["stats", "--json", "--control", control]);
    if (r.code !== 0) throw new Error(`lb.ts stats exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout).counters;
  }

  /** A temporary file path removed on destroy. */
  tempPath(base: string): string {
    const p = `/tmp/lbt-${base}-${this.suffix}`;
    this.#tempFiles.push(p);
    return p;
  }

  /** Ends every started process (by PID), deletes every namespace and temporary file. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    live.delete(this);
    await Promise.allSettled(this.#procs.map((p) => p.stop("SIGTERM", 5_000)));
    for (const ns of this.#namespaces.reverse()) {
      await run(["ip", "netns", "del", ns]);
    }
    for (const f of this.#tempFiles) {
      try {
        Deno.removeSync(f);
      } catch { /* not created */ }
    }
  }
}

/**
 * Declares a namespace test: skipped (with the reason) when not root, or when `missing` (what
 * else the test needs, e.g. a browser) is not null, failing with the reason under CI=true
 * (tests/requires.ts), and the topology is always destroyed, whether the test passes, fails or
 * is interrupted.
 */
export function netnsTest(
  name: string,
  fn: (t: Topology) => Promise<void>,
  timeoutMs = 120_000,
  missing: string | null = null,
) {
  testNeeding(skipReason ?? missing, {
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const topo = new Topology();
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([
          fn(topo),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`test exceeded ${timeoutMs} ms`)),
              timeoutMs,
            );
          }),
        ]);
      } finally {
        clearTimeout(timer);
        await topo.destroy();
      }
    },
  });
}
