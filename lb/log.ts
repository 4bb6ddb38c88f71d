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
