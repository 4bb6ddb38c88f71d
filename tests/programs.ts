/**
 * The external programs the tests, the demo and the benchmark drivers run, and the one way they
 * start them.
 *
 * scripts/programs.json names every program with the Debian packages that provide it; it is the
 * list scripts/setup.sh installs from ("test": the tests and the demo; "bench": the benchmark
 * drivers besides; "browser": headless Chromium for the status page's test, installed by
 * `setup.sh --browser`, which scripts/test.sh asks for, since it is large and only that test
 * needs it; "prerequisites": what must be on the machine already, with no package). A command here is typed `[Program, ...args]`, so a test
 * that runs a program the list does not name fails `deno check`, and tests/programs_test.ts
 * checks the rest (shell command strings, shell scripts, that nothing starts a process around
 * this module, and that setup.sh installs every package).
 *
 * @module
 */
import programs from "../scripts/programs.json" with { type: "json" };

/** A program the tests and the demo run (installed by `scripts/setup.sh`). */
export type TestProgram = keyof typeof programs.test;
/** A program only the benchmark drivers run (installed by `scripts/setup.sh --bench`). */
export type BenchProgram = keyof typeof programs.bench;
/** The browser the status page's test drives (installed by `scripts/setup.sh --browser`). */
export type BrowserProgram = keyof typeof programs.browser;
/**
 * A program the project needs before any of its scripts runs (Node.js with npm, which installs
 * the pinned Deno): declared, never installed by setup.sh.
 */
export type Prerequisite = keyof typeof programs.prerequisites;
/** Any declared program. */
export type Program = TestProgram | BenchProgram | BrowserProgram | Prerequisite;
/** A path to one of this project's own executables (scripts/deno, a binary a benchmark built). */
export type OwnExecutable = string & { readonly ownExecutable: true };
/** A command line: a declared program (or one of ours) and its arguments. */
export type Cmd = readonly [Program | OwnExecutable, ...string[]];

/** A declared program's Debian packages, and which setup.sh option installs it. */
export interface ProgramInfo {
  readonly packages: readonly string[];
  /** Only the benchmarks need it (`setup.sh --bench`). */
  readonly bench: boolean;
  /** Only the browser test needs it (`setup.sh --browser`). */
  readonly browser: boolean;
}

/** The declared programs: name -> Debian packages, and whether only the benchmarks need it. */
export const PROGRAMS: ReadonlyMap<string, ProgramInfo> = new Map(
  [
    [programs.test, false, false] as const,
    [programs.bench, true, false] as const,
    [programs.browser, false, true] as const,
    [programs.prerequisites, false, false] as const,
  ].flatMap(([group, bench, browser]) =>
    Object.entries(group).map(([name, packages]): [string, ProgramInfo] => [
      name,
      { packages, bench, browser },
    ])
  ),
);

/** Marks `path` as one of this project's own executables (not a Debian program). */
export function own(path: string): OwnExecutable {
  return path as OwnExecutable;
}

/** What to tell a user whose machine lacks `program`. */
export function missingProgramMessage(program: string): string {
  const p = PROGRAMS.get(program);
  if (p === undefined) return `program "${program}" was not found`;
  if (p.packages.length === 0) return `program "${program}" is not installed (a prerequisite)`;
  const setup = p.bench
    ? "bash scripts/setup.sh --bench"
    : p.browser
    ? "bash scripts/setup.sh --browser"
    : "bash scripts/setup.sh";
  return `program "${program}" is not installed (Debian package ${
    p.packages.join(", ")
  }; ${setup} installs it)`;
}

/**
 * Starts `cmd` (the only place tests and benchmark drivers create a process). A program that is
 * not installed is an Error naming its Debian package, not Deno's bare "entity not found".
 */
export function startProgram(
  cmd: Cmd,
  options: Omit<Deno.CommandOptions, "args"> = {},
): Deno.ChildProcess {
  try {
    return new Deno.Command(cmd[0], { ...options, args: cmd.slice(1) }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(missingProgramMessage(cmd[0]));
    throw e;
  }
}
