/**
 * Starts, confines and supervises the instance's own BIRD 2, and talks to it through `birdc`
 * on BIRD's own control socket (never the system's).
 *
 * Confinement: BIRD runs in a private network namespace (`unshare --net`) that holds only
 * loopback and the TAP of the relay's inner stack (lb/bgp/relay.ts), so it can reach nothing but
 * the relay and cannot touch the host's routes. Its files (config, control socket, pid file, log)
 * are in the instance's run directory.
 *
 * Supervision: BIRD is started as `setpriv --pdeathsig KILL -- unshare --net -- sh -c ...` and the
 * shell execs BIRD, so BIRD is the very process whose parent-death signal is SIGKILL
 * (prctl(PR_SET_PDEATHSIG), kept across execve): when the instance dies, even by kill -9, the
 * kernel kills BIRD, its namespace and its end of the TAP with it, and nothing keeps announcing.
 * The router then learns it from BFD (or the BGP hold timer without `bfd`), since the session's
 * TCP lived in the instance's userspace stack and simply stops.
 *
 * @module
 */

/** Where an instance keeps BIRD's files. */
export interface BirdFiles {
  dir: string;
  config: string;
  socket: string;
  pid: string;
  log: string;
}

/** The files under `dir`. */
export function birdFiles(dir: string): BirdFiles {
  return {
    dir,
    config: `${dir}/bird.conf`,
    socket: `${dir}/bird.ctl`,
    pid: `${dir}/bird.pid`,
    log: `${dir}/bird.log`,
  };
}

/** One protocol line of `birdc show protocols`. */
export interface BirdProtocol {
  name: string;
  proto: string;
  state: string;
  /** "YYYY-MM-DD HH:MM:SS" (timeformat protocol iso long). */
  since: string;
  info: string;
}

/** Parses `birdc show protocols` output (the table after the banner). */
export function parseShowProtocols(text: string): BirdProtocol[] {
  const out: BirdProtocol[] = [];
  for (const line of text.split("\n")) {
    const m = line.match(
      /^(\S+)\s+(\S+)\s+(\S+)\s+(up|down|start|stop|flush)\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\s*(.*)$/,
    );
    if (m !== null) {
      out.push({ name: m[1], proto: m[2], state: m[4], since: m[5], info: m[6].trim() });
    }
  }
  return out;
}

/** A missing program, named with its Debian package. */
export class BgpSetupError extends Error {
  override name = "BgpSetupError";
}

/** Runs a program to completion; stdout, or throws with its stderr. */
async function runProgram(cmd: string, args: string[]): Promise<string> {
  let out;
  try {
    out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" })
      .output();
  } catch (e) {
    throw setupError(cmd, e);
  }
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(out.stderr).trim() || out.code}`);
  }
  return dec.decode(out.stdout);
}

/** The packages of the programs --bgp runs. */
const PACKAGE: Record<string, string> = {
  bird: "bird2",
  birdc: "bird2",
  setpriv: "util-linux",
  unshare: "util-linux",
  ip: "iproute2",
};

/** A clear error for a program that could not be started. */
function setupError(cmd: string, e: unknown): Error {
  if (e instanceof Deno.errors.NotFound) {
    return new BgpSetupError(
      `--bgp needs \`${cmd}\` (Debian package ${PACKAGE[cmd] ?? cmd}: apt-get install ${
        PACKAGE[cmd] ?? cmd
      })`,
    );
  }
  if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
    return new BgpSetupError(
      `--bgp runs ${cmd}: give deno --allow-run=setpriv,ip,birdc and --allow-write for the run ` +
        `directory (see README "Scaling out")`,
    );
  }
  return e instanceof Error ? e : new Error(String(e));
}

/** Reads one line from a byte stream (the shell's handshake), or null at its end. */
async function readLine(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string | null> {
  const dec = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text === "" ? null : text;
    text += dec.decode(value, { stream: true });
    const nl = text.indexOf("\n");
    if (nl >= 0) return text.slice(0, nl);
  }
}

/**
 * The shell that runs inside the new namespace: says it is there, waits until the TAP has been
 * moved in, sets it up with the instance's address, and becomes BIRD.
 */
const INSIDE = [
  'command -v bird >/dev/null 2>&1 || { echo "no-bird"; exit 127; }',
  "echo ready",
  "read go || exit 1",
  'ip link set lo up && ip addr add "$2" dev "$1" && ip link set "$1" up || exit 1',
  'exec bird -f -c "$3" -s "$4" -P "$5" >>"$6" 2>&1',
].join("\n");

/** A running BIRD. */
export class BirdSupervisor {
  readonly files: BirdFiles;
  readonly #child: Deno.ChildProcess;
  /** birdc calls, one at a time. */
  #queue: Promise<unknown> = Promise.resolve();
  #stopped = false;
  /** Resolves with BIRD's exit status. */
  readonly exited: Promise<Deno.CommandStatus>;

  private constructor(files: BirdFiles, child: Deno.ChildProcess) {
    this.files = files;
    this.#child = child;
    this.exited = child.status;
  }

  /** BIRD's pid (also the namespace's only process). */
  get pid(): number {
    return this.#child.pid;
  }

  /**
   * Writes `config`, starts BIRD in a new network namespace, moves the TAP `tap` into it with
   * the address `cidr` ("10.0.0.2/24"), and waits until BIRD answers on its control socket.
   */
  static async start(
    dir: string,
    tap: string,
    cidr: string,
    config: string,
  ): Promise<BirdSupervisor> {
    const files = birdFiles(dir);
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      await Deno.writeTextFile(files.config, config);
      await Deno.remove(files.socket).catch(() => {});
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
        throw new BgpSetupError(
          `--bgp keeps BIRD's files in ${dir}: give deno --allow-write=${dir} ` +
            `--allow-run=setpriv,ip,birdc (see README "Scaling out")`,
        );
      }
      throw e;
    }
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command("setpriv", {
        args: [
          "--pdeathsig",
          "KILL",
          "--",
          "unshare",
          "--net",
          "--",
          "sh",
          "-c",
          INSIDE,
          "lbts-bird",
          tap,
          cidr,
          files.config,
          files.socket,
          files.pid,
          files.log,
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
    } catch (e) {
      throw setupError("setpriv", e);
    }
    const sup = new BirdSupervisor(files, child);
    const reader = child.stdout.getReader();
    try {
      const first = await readLine(reader);
      if (first === "no-bird") throw setupError("bird", new Deno.errors.NotFound("bird"));
      if (first !== "ready") throw new Error(`BIRD's namespace did not start (${first ?? "EOF"})`);
      await runProgram("ip", ["link", "set", "dev", tap, "netns", String(child.pid)]);
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode("go\n"));
      await w.close();
      reader.releaseLock();
      await child.stdout.cancel();
      // BIRD reads its config and opens the socket within milliseconds; 5 s is a wedged start.
      const deadline = Date.now() + 5000;
      for (;;) {
        try {
          await sup.birdc(["show", "status"]);
          break;
        } catch (e) {
          if (e instanceof BgpSetupError || Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    } catch (e) {
      sup.kill();
      throw e;
    }
    return sup;
  }

  /** Runs `birdc -s SOCKET args...` (one at a time); its output. */
  birdc(args: string[]): Promise<string> {
    const next = this.#queue.then(() => runProgram("birdc", ["-s", this.files.socket, ...args]));
    this.#queue = next.catch(() => {});
    return next;
  }

  /** Writes the new configuration and has BIRD apply it (a BGP session is not restarted). */
  async configure(config: string): Promise<void> {
    await Deno.writeTextFile(this.files.config, config);
    const out = await this.birdc(["configure"]);
    if (!/Reconfigur|Reconfiguration|Configuration OK/i.test(out)) {
      throw new Error(`birdc configure: ${out.trim()}`);
    }
  }

  /** `birdc show protocols`, parsed. */
  async protocols(): Promise<BirdProtocol[]> {
    return parseShowProtocols(await this.birdc(["show", "protocols"]));
  }

  /** SIGKILL at once (failed start, or a stop that took too long). */
  kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }

  /**
   * Stops BIRD: SIGTERM (it closes its sessions with a Cease, RFC 4271 6.7), SIGKILL after 2 s.
   * Idempotent.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // already gone
    }
    const timer = setTimeout(() => this.kill(), 2000);
    await this.exited.catch(() => {});
    clearTimeout(timer);
  }
}
