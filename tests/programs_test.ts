/**
 * Every program a test, the demo or a benchmark driver runs is declared in scripts/programs.json
 * with its Debian packages, and scripts/setup.sh installs exactly those packages. Commands in
 * TypeScript are typed (tests/programs.ts: `deno check` rejects an undeclared program); this test
 * covers what the type checker cannot see: the command strings handed to `sh -c`/`bash -c`, the
 * shell scripts, a process started around the one helper, and a test that runs a program only
 * the benchmark installs.
 */
import { assert, assertEquals } from "./assert.ts";
import { PROGRAMS } from "./programs.ts";
import { run } from "./netns/topology.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** Every file under `dir` (relative to the repository) whose name ends with `ext`. */
function filesUnder(dir: string, ext: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(`${ROOT}${d}`)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) walk(p);
      else if (e.name.endsWith(ext)) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** Words that start a simple command but are the shell's own, not a program. */
const SHELL_WORDS = new Set(
  ("if then else elif fi for while until do done case esac in function select time ! { } ( ) [ [[ " +
    "]] local export set unset echo printf read exit return trap wait kill cd shift true false " +
    "test eval source . mapfile readarray declare break continue command type exec : let " +
    "shopt ulimit umask pwd")
    .split(" "),
);

/** Wrappers whose argument is itself a command: how many words (after the name) to skip. */
function unwrap(words: string[]): string[] {
  for (;;) {
    const w = words[0];
    if (w === undefined) return words;
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(w)) words = words.slice(1); // VAR=value cmd
    else if (w === "exec" || w === "!" || w === "nice" || w === "setsid") words = words.slice(1);
    else if (w === "timeout") words = words.slice(2);
    else if (w === "taskset") words = words.slice(words[1] === "-c" ? 3 : 2);
    else if (w === "ip" && words[1] === "netns" && words[2] === "exec") words = words.slice(4);
    else return words;
  }
}

/**
 * The programs a shell text runs: the first word of each simple command, after assignments and
 * wrappers (`exec`, `timeout N`, `taskset -c N`, `ip netns exec NS`), leaving out the shell's own
 * words, functions the text defines, and words that start with `$` (a variable or a path of the
 * project's own, which the test cannot resolve). Single-quoted text, double-quoted text outside command substitutions, here-documents and
 * arithmetic are data (an inline Python
 * program, an nft rule), not commands.
 */
function shellCommands(text: string): Set<string> {
  const skeleton = commandSkeleton(text);
  const functions = new Set(
    [...skeleton.matchAll(/^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(\)\s*\{/gm)].map((m) => m[1]),
  );
  const out = new Set<string>();
  for (const part of skeleton.split(/\|\||&&|[|;&\n`(){}]|\bthen\b|\bdo\b|\belse\b/)) {
    const words = unwrap(part.trim().split(/\s+/).filter((w) => w !== "" && !/^\d*[<>]/.test(w)));
    const w = words[0];
    if (w === undefined || SHELL_WORDS.has(w) || functions.has(w)) continue;
    if (!/^[A-Za-z/][\w./+-]*$/.test(w)) continue; // a variable, quoted data, a number
    out.add(w);
  }
  return out;
}

/**
 * `text` with what is data blanked to `\u00a7`: single-quoted text, double-quoted text (but not the
 * command substitutions inside it), `${...}` and `$((...))`, comments. Command substitutions stay
 * as `$(...)`, so their commands are seen.
 */
function commandSkeleton(text: string): string {
  let out = "";
  let i = 0;
  // Each open `$(` remembers whether it was inside double quotes.
  const parens: boolean[] = [];
  let inDouble = false;
  const skipTo = (close: string) => {
    const j = text.indexOf(close, i);
    i = j < 0 ? text.length : j + close.length;
    out += "\u00a7";
  };
  while (i < text.length) {
    const c = text[i];
    if (c === "\\") {
      i += 2;
      out += "\u00a7";
    } else if (text.startsWith("<<", i) && text[i + 2] !== "<" && text[i - 1] !== "<") {
      // A here-document: its body, up to the line that is its delimiter, is data.
      const m = /^<<-?\s*['"]?(\w+)['"]?/.exec(text.slice(i, i + 80));
      const body = m === null ? -1 : text.indexOf("\n", i);
      if (m === null || body < 0) {
        out += "<<";
        i += 2;
        continue;
      }
      out += text.slice(i, body + 1);
      const end = new RegExp(`^\\s*${m[1]}$`, "m").exec(text.slice(body + 1));
      i = end === null ? text.length : body + 1 + end.index + end[0].length;
      out += "\u00a7";
    } else if (text.startsWith("$((", i)) {
      // Arithmetic, up to its balancing "))" (a command inside it is not seen).
      let depth = 2;
      for (i += 3; i < text.length && depth > 0; i++) {
        if (text[i] === "(") depth++;
        else if (text[i] === ")") depth--;
      }
      out += "\u00a7";
    } else if (text.startsWith("${", i)) {
      i += 2;
      skipTo("}");
    } else if (text.startsWith("$(", i)) {
      parens.push(inDouble);
      inDouble = false;
      out += "$(";
      i += 2;
    } else if (inDouble) {
      if (c === '"') inDouble = false;
      else if (!out.endsWith("\u00a7")) out += "\u00a7";
      i++;
    } else if (c === '"') {
      inDouble = true;
      i++;
    } else if (c === "'") {
      i++;
      skipTo("'");
    } else if (c === "#" && (i === 0 || /\s/.test(text[i - 1]))) {
      skipTo("\n");
      out += "\n";
    } else if (c === ")" && parens.length > 0) {
      inDouble = parens.pop()!;
      out += ")";
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

Deno.test("programs: shellCommands finds the commands of a shell text and nothing else", () => {
  const text = `set -euo pipefail
x="$(cd "$(dirname "$0")" && pwd)"   # dirname runs, cd is the shell's
py() { python3 -c "$@"; }
field() { py 'import json; print(1) | nothing' "$1"; }
if [ -x "$bin" ]; then timeout 20 ip netns exec "$ns" taskset -c 0 tcpdump -i x >"$out" 2>&1 & fi
echo "$a" | tail -n 1; X=1 exec nc -N host 7 < file || gcc -O2 a.c
"$root/scripts/deno" run x.ts`;
  assertEquals(
    [...shellCommands(text)].sort(),
    ["dirname", "gcc", "nc", "python3", "tail", "tcpdump"],
  );
});

/** The `sh -c`/`bash -c` command strings in a TypeScript source (string or template literal). */
function shellStrings(source: string): string[] {
  const re = /"(?:ba)?sh",\s*"-c",\s*(?:"((?:[^"\\]|\\.)*)"|`((?:[^`\\]|\\.)*)`)/g;
  return [...source.matchAll(re)].map((m) => (m[1] ?? m[2]).replace(/\$\{[^}]*\}/g, "$X"));
}

const sources = [...filesUnder("tests", ".ts"), ...filesUnder("scripts", ".ts")];
const shellScripts = filesUnder("scripts", ".sh");

Deno.test("programs: every program in a shell command string or shell script is declared", () => {
  const undeclared: string[] = [];
  const check = (where: string, text: string) => {
    for (const p of shellCommands(text)) {
      if (!PROGRAMS.has(p)) undeclared.push(`${where}: ${p}`);
    }
  };
  let strings = 0;
  for (const f of sources) {
    for (const s of shellStrings(Deno.readTextFileSync(`${ROOT}${f}`))) {
      strings++;
      check(f, s);
    }
  }
  for (const f of shellScripts) check(f, Deno.readTextFileSync(`${ROOT}${f}`));
  assert(strings >= 10, `found only ${strings} sh -c strings: the pattern no longer matches`);
  assertEquals(undeclared, [], "declare these in scripts/programs.json");
});

Deno.test("programs: processes are started only through tests/programs.ts", () => {
  const offenders = sources.filter((f) =>
    f !== "tests/programs.ts" && f !== "tests/programs_test.ts" &&
    /new Deno\.Command\(|Deno\.run\(/.test(Deno.readTextFileSync(`${ROOT}${f}`))
  );
  assertEquals(offenders, [], "use startProgram / run / Topology.exec (typed commands)");
});

Deno.test("programs: tests do not run programs that only the benchmark installs", () => {
  const benchOnly = [...PROGRAMS].filter(([, p]) => p.bench).map(([name]) => name);
  const offenders: string[] = [];
  for (const f of sources.filter((f) => f.startsWith("tests/") && f !== "tests/programs.ts")) {
    const text = Deno.readTextFileSync(`${ROOT}${f}`);
    for (const s of shellStrings(text)) {
      for (const p of shellCommands(s)) if (benchOnly.includes(p)) offenders.push(`${f}: ${p}`);
    }
    for (const p of benchOnly) if (text.includes(`["${p}"`)) offenders.push(`${f}: ${p}`);
  }
  assertEquals(offenders, []);
});

Deno.test("programs: scripts/setup.sh installs exactly the declared packages", async () => {
  const listed = async (args: string[]) => {
    const r = await run(["bash", `${ROOT}scripts/setup.sh`, ...args, "--list"]);
    assertEquals(r.code, 0, r.stderr);
    return r.stdout.trim().split("\n").sort();
  };
  const want = (bench: boolean, browser = false) =>
    [
      ...new Set(
        [...PROGRAMS.values()].filter((p) => (bench || !p.bench) && (browser || !p.browser))
          .flatMap((p) => p.packages),
      ),
    ].sort();
  assertEquals(await listed([]), want(false));
  assertEquals(await listed(["--bench"]), want(true));
  assertEquals(await listed(["--browser"]), want(false, true));
  assertEquals(await listed(["--bench", "--browser"]), want(true, true));
  // The benchmark's own packages and the browser are not installed for the tests by default.
  assert(!(await listed([])).includes("nginx"));
  assert(!(await listed([])).includes("chromium"));
});
