/**
 * Bytes allocated by a piece of code, sampled with V8's heap profiler through node:inspector
 * (the benchmarks' allocation figures: scripts/bench/tcp_bench.ts, lb_forward_bench.ts).
 *
 * @module
 */

/** One allocation site of a {@link sampledAllocation} profile. */
export interface AllocationSite {
  /**
   * The allocating function and its two callers ("fn (file) < caller (file) < ..."); files
   * without line numbers, which would be those of the transpiled JavaScript.
   */
  where: string;
  /** Bytes sampled there per unit. */
  perUnit: number;
}

/** What {@link sampledAllocation} measured. */
export interface Allocation {
  /** Bytes allocated per unit under the code of interest. */
  perUnit: number;
  /** The sites that allocated, most first. */
  sites: AllocationSite[];
}

/**
 * Bytes allocated per unit by `fn` (called `calls` times, `units` units each), measured with
 * V8's sampling heap profiler (one sample every 64 bytes on average). Only what was allocated
 * under a frame whose script URL passes `counts` is counted (not the profiler's own session).
 */
export async function sampledAllocation(
  fn: () => void,
  calls: number,
  units: number,
  counts: (url: string) => boolean,
): Promise<Allocation> {
  const inspector = await import("node:inspector");
  const session = new inspector.Session();
  session.connect();
  const post = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((resolve, reject) =>
      session.post(
        method,
        params,
        (e: Error | null, r?: object) =>
          e ? reject(e) : resolve((r ?? {}) as Record<string, unknown>),
      )
    );
  await post("HeapProfiler.enable");
  await post("HeapProfiler.startSampling", {
    samplingInterval: 64,
    // Without these the profile holds only what is still alive when sampling stops.
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  for (let i = 0; i < calls; i++) fn();
  const { profile } = await post("HeapProfiler.stopSampling");
  session.disconnect();
  interface Node {
    selfSize: number;
    callFrame: { url: string; functionName: string };
    children: Node[];
  }
  let bytes = 0;
  const sites = new Map<string, number>();
  const name = (f: Node["callFrame"]) => {
    const file = f.url.replace(/^.*\/(stack|lb|scripts)\//, "$1/").replace(/^.*\/ext:/, "ext:");
    return `${f.functionName || "(anonymous)"}${file === "" ? "" : ` (${file})`}`;
  };
  const walk = (n: Node, inCode: boolean, chain: string[]) => {
    const here = inCode || counts(n.callFrame.url);
    const path = [name(n.callFrame), ...chain];
    if (here && n.selfSize > 0) {
      bytes += n.selfSize;
      const where = path.slice(0, 3).join(" < ");
      sites.set(where, (sites.get(where) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, here, path);
  };
  walk((profile as { head: Node }).head, false, []);
  const n = calls * units;
  return {
    perUnit: bytes / n,
    sites: [...sites].sort((a, b) => b[1] - a[1]).map(([where, b]) => ({ where, perUnit: b / n })),
  };
}
