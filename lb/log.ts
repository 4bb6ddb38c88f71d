/**
 * The balancer's event log on stderr: one line per state change (configuration changes, reloads,
 * refused reloads), plain text or, with `--log-format json`, one JSON object per line. Health
 * transitions are written with it too (lb/health/checker.ts formatHealthEvent).
 *
 * @module
 */

/** The two log formats. */
export type LogFormat = "json" | "plain";

/** One event line: `{ts, event, ...fields}` in JSON, or `TS EVENT message` in plain text. */
export function formatLogLine(
  format: LogFormat,
  event: string,
  message: string,
  fields: Record<string, unknown> = {},
  at = new Date(),
): string {
  const ts = at.toISOString();
  if (format === "json") return JSON.stringify({ ts, event, message, ...fields });
  return `${ts} ${event} ${message}`;
}

/** One remembered event (what the status page's event log shows). */
export interface RecentEvent {
  /** Wall time, ISO 8601. */
  ts: string;
  /** Event name, as the log line has it ("config", "reloaded", "health", ...). */
  event: string;
  message: string;
}

/**
 * The last `limit` events, oldest first: the log on stderr goes to whatever collects it, and the
 * status page shows what happened lately without reading that. Bounded, so a flapping server
 * cannot grow it.
 */
export class RecentEvents {
  readonly #limit: number;
  #items: RecentEvent[] = [];

  /** Keeps at most `limit` events (default 200). */
  constructor(limit = 200) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit ${limit} is not >= 1`);
    this.#limit = limit;
  }

  /** Remembers one event; the oldest goes when the limit is reached. */
  add(event: string, message: string, at = new Date()): void {
    this.#items.push({ ts: at.toISOString(), event, message });
    // Trim in batches: one copy per `limit` adds instead of a shift per add.
    if (this.#items.length >= this.#limit * 2) this.#items = this.#items.slice(-this.#limit);
  }

  /** The remembered events, oldest first. */
  list(): RecentEvent[] {
    return this.#items.slice(-this.#limit);
  }
}
