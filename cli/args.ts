/**
 * Flag parsing for lb.ts commands, on `node:util`'s `parseArgs` (no dependency needed), and the
 * validators that turn flag text into typed values. Every problem is a `UsageError`: `main`
 * prints its one line and exits 2 before anything is started.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { parseCidr, parseIpv4, parseMac } from "../stack/wire/address.ts";

/** Bad command-line input: one line naming the problem; exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The option spec handed to `parseArgs`. */
export type FlagSpec = NonNullable<ParseArgsConfig["options"]>;

/** Parsed flags: strings, booleans, or lists for `multiple` flags. */
export type Flags = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** Parses `args` strictly against `spec`; unknown flags and missing values are UsageErrors. */
export function parseFlags(
  command: string,
  args: string[],
  spec: FlagSpec,
  positionals = false,
): { flags: Flags; positionals: string[] } {
  try {
    const r = parseArgs({ args, options: spec, strict: true, allowPositionals: positionals });
    return { flags: r.values as Flags, positionals: r.positionals };
  } catch (e) {
    // node's messages are verbose ("Unknown option '--x'. To specify a positional argument...");
    // keep their first sentence, which names the flag.
    const msg = e instanceof Error ? e.message.split(". ")[0] : String(e);
    throw new UsageError(`${command}: ${msg}`);
  }
}

/** A string flag's value, or undefined when absent. */
export function str(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new UsageError(`--${name} needs a value`);
  return v;
}

/** A required string flag. */
export function required(flags: Flags, name: string, command: string): string {
  const v = str(flags, name);
  if (v === undefined || v === "") throw new UsageError(`${command}: --${name} is required`);
  return v;
}

/** An IPv4 address flag value. */
export function ipArg(text: string, what: string): number {
  const ip = parseIpv4(text);
  if (ip === null) throw new UsageError(`${what}: "${text}" is not an IPv4 address`);
  return ip;
}

/** An ADDR/PREFIX flag value, e.g. 10.0.0.2/24. */
export function cidrArg(text: string, what: string): { addr: number; prefix: number } {
  const c = parseCidr(text);
  if (c === null) {
    throw new UsageError(
      `${what}: "${text}" is not an IPv4 address with a prefix (e.g. 10.0.0.2/24)`,
    );
  }
  return c;
}

/** A MAC flag value, e.g. 02:00:00:00:00:01. */
export function macArg(text: string, what: string): Uint8Array {
  const mac = parseMac(text);
  if (mac === null) throw new UsageError(`${what}: "${text}" is not a MAC address`);
  if (mac[0] & 1) throw new UsageError(`${what}: ${text} is a multicast MAC address`);
  return mac;
}

/** An integer flag value within [min, max]. */
export function intArg(text: string, what: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(text)) throw new UsageError(`${what}: "${text}" is not a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`${what}: ${n} is outside ${min}..${max}`);
  return n;
}

/** A non-negative decimal number flag value (e.g. seconds) within [min, max]. */
export function numberArg(text: string, what: string, min: number, max: number): number {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text)) throw new UsageError(`${what}: "${text}" is not a number`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`${what}: ${n} is outside ${min}..${max}`);
  return n;
}

/** A TAP/interface name: 1-15 bytes, no slash or whitespace (IFNAMSIZ). */
export function ifnameArg(text: string, what = "--tap"): string {
  if (text.length === 0 || text.length > 15 || /[\s/:]/.test(text)) {
    throw new UsageError(`${what}: "${text}" is not a valid interface name (1-15 characters)`);
  }
  return text;
}
