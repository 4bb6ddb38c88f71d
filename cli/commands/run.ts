/**
 * `lb.ts run --tap NAME --ip ADDR/PREFIX [--gateway IP] --service tcp:VIP:PORT --scheduler NAME
 * --method dr|nat|tun --real IP[:PORT][,weight=N] ... [--max-conns N] [--timeout-tcp S]
 * [--timeout-tcpfin S] [--timeout-udp S] [--check tcp|http[:PATH[:STATUS]] [--check-interval S]
 * [--check-timeout S] [--rise N] [--fall N]] [--log-format json|plain] [--no-offload]`: the
 * load balancer on a TAP until SIGINT/SIGTERM. The TAP is opened with virtio-net headers unless
 * `--no-offload`, so TCP super-frames (64 KB) are forwarded whole in DR and NAT and segmented in
 * software for TUN (stack/link/offload.ts; cli/host_flags.ts says why it is the default). The
 * health-check flags are global: they apply to every real server of every TCP service
 * (lb/health/). A config file's `"health"` gives the same settings instead (both at once is a
 * usage error); `save` prints the checks that run.
 *
 * Each `--service` starts a group; the `--scheduler`, `--method` and `--real` flags after it
 * belong to it (lb/config.ts), so the flags are parsed with `tokens: true` to keep their order.
 * Everything is validated before anything is opened: bad input is one line and exit code 2.
 * `--config FILE` (lb/config_file.ts; needs `--allow-read=FILE`) replaces the balancer flags;
 * `lb.ts reload` or SIGHUP re-reads it and applies it as a diff (an invalid file is refused and
 * the running configuration kept). The admin verbs (cli/commands/lb_admin.ts) change the
 * running balancer through the `lb.admin`, `lb.save` and `lb.reload` control commands.
 * A running balancer answers `lb.ts list`, `list --stats` and `conns` (cli/commands/lb_inspect.ts)
 * besides the host's `arp`, `route`, `stats` and `ping`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type Flags, UsageError } from "../args.ts";
import { HOST_FLAG_SPEC, type HostOptions, hostOptions, OFFLOAD_FLAG_SPEC } from "../host_flags.ts";
import { readyLine, runUntilSignal, startInstance } from "../instance.ts";
import { LB_CONNS, LB_LIST } from "./lb_inspect.ts";
import { Balancer } from "../../lb/balancer.ts";
import {
  BALANCER_FLAGS,
  type BalancerConfig,
  balancerConfigFromFlags,
  buildServices,
  checkAgainstHost,
  ConfigError,
  type FlagOccurrence,
} from "../../lb/config.ts";
import { formatIpv4 } from "../../stack/wire/address.ts";
import { LB_ADMIN, LB_RELOAD, LB_SAVE } from "./lb_admin.ts";
import { applyAdmin, applyConfig, checkAdminOp, runningConfig } from "../../lb/admin.ts";
import { ConfigFileError, type FileConfig, loadConfigFile } from "../../lb/config_file.ts";
import { healthConfigFromFlags } from "../../lb/health/flags.ts";
import {
  type HealthConfig,
  type HealthMonitor,
  startHealthChecks,
} from "../../lb/health/monitor.ts";
import { formatHealthEvent } from "../../lb/health/checker.ts";
import { formatLogLine } from "../../lb/log.ts";
import { RateEstimator, rateItems, withRates } from "../../lb/rates.ts";
import { renderMetrics } from "../../lb/metrics.ts";
import {
  type MetricsAddr,
  type MetricsServer,
  parseMetricsAddr,
  startMetricsServer,
} from "../metrics_server.ts";

const SPEC = {
  ...HOST_FLAG_SPEC,
  ...OFFLOAD_FLAG_SPEC,
  service: { type: "string", multiple: true },
  scheduler: { type: "string", multiple: true },
  method: { type: "string", multiple: true },
  real: { type: "string", multiple: true },
  "max-conns": { type: "string" },
  "timeout-tcp": { type: "string" },
  "timeout-tcpfin": { type: "string" },
  "timeout-udp": { type: "string" },
  check: { type: "string" },
  "check-interval": { type: "string" },
  "check-timeout": { type: "string" },
  rise: { type: "string" },
  fall: { type: "string" },
  "log-format": { type: "string" },
  metrics: { type: "string" },
  config: { type: "string" },
} as const;

const BALANCER_FLAG_SET: ReadonlySet<string> = new Set(BALANCER_FLAGS);

/** The validated command line of `lb.ts run`; every problem is a UsageError. */
export function parseRunArgs(
  args: string[],
): {
  host: HostOptions;
  config: BalancerConfig;
  health: HealthConfig | null;
  logFormat: "json" | "plain";
  configFile?: string;
  /** `--metrics ADDR:PORT`, or null. */
  metrics: MetricsAddr | null;
} {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: SPEC,
      strict: true,
      allowPositionals: false,
      tokens: true,
    });
  } catch (e) {
    // node's messages go on ("... To specify a positional argument ..."): keep the first sentence.
    throw new UsageError(`run: ${e instanceof Error ? e.message.split(". ")[0] : e}`);
  }
  const host = hostOptions("run", parsed.values as Flags);
  const health = healthConfigFromFlags(parsed.values);
  if (typeof health === "string") throw new UsageError(`run: ${health}`);
  const logFormat = parsed.values["log-format"] ?? "plain";
  if (logFormat !== "json" && logFormat !== "plain") {
    throw new UsageError(`run: --log-format ${JSON.stringify(logFormat)}: expected json or plain`);
  }
  const metricsText = parsed.values.metrics;
  const metrics = metricsText === undefined ? null : parseMetricsAddr(metricsText);
  if (typeof metrics === "string") throw new UsageError(`run: ${metrics}`);
  const occurrences: FlagOccurrence[] = [];
  for (const t of parsed.tokens) {
    if (t.kind !== "option" || !BALANCER_FLAG_SET.has(t.name)) continue;
    if (t.value === undefined) throw new UsageError(`run: --${t.name} needs a value`);
    occurrences.push({ name: t.name, value: t.value });
  }
  const configFile = (parsed.values as Flags).config;
  if (typeof configFile === "string") {
    if (occurrences.length > 0) {
      throw new UsageError(
        `run: --config replaces --${occurrences[0].name} (give one or the other)`,
      );
    }
    return {
      host,
      config: { services: [], timeouts: {} },
      health,
      logFormat,
      configFile,
      metrics,
    };
  }
  try {
    const config = balancerConfigFromFlags(occurrences);
    checkAgainstHost(config, host);
    return { host, config, health, logFormat, metrics };
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`run: ${e.message}`);
    throw e;
  }
}

/**
 * Reads and validates a config file, including the host checks of lb/config.ts (a DR real server
 * on the link...). Every problem is a ConfigFileError naming the file.
 */
export async function loadRunConfig(file: string, host: HostOptions): Promise<FileConfig> {
  const fc = await loadConfigFile(file);
  // checkAgainstHost checks per service method; the file has a method per real: one service each.
  const split: BalancerConfig = {
    services: fc.services.flatMap((s) =>
      s.reals.map((r) => ({ ...s, method: r.method, reals: [r] }))
    ),
    timeouts: {},
  };
  try {
    checkAgainstHost(split, host);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigFileError(`${file}: ${e.message}`);
    throw e;
  }
  return fc;
}

/** One line per service: what the balancer does, for the operator and the test logs. */
function describe(config: BalancerConfig): string[] {
  return config.services.map((s) =>
    `lb.ts: service ${s.protocol} ${formatIpv4(s.vip)}:${s.port} ${s.scheduler} ${s.method} -> ` +
    s.reals.map((r) => `${formatIpv4(r.address)}:${r.port || s.port} w${r.weight}`).join(", ")
  );
}

/** Runs `lb.ts run`; returns the exit code. */
export async function runCommand(args: string[]): Promise<number> {
  const { host, config, health, logFormat, configFile, metrics } = parseRunArgs(args);
  let fileConfig: FileConfig | undefined;
  if (configFile !== undefined) {
    try {
      fileConfig = await loadRunConfig(configFile, host);
    } catch (e) {
      if (e instanceof ConfigFileError) throw new UsageError(`run: ${e.message}`);
      throw e;
    }
  }
  // Health checks from the flags or from the file's "health" (never both: one would be ignored).
  if (health !== null && fileConfig?.health !== undefined) {
    throw new UsageError(`run: --check and "health" in ${configFile} (give one or the other)`);
  }
  let checks = health ?? fileConfig?.health ?? null;
  const log = (event: string, message: string, fields?: Record<string, unknown>) =>
    console.error(formatLogLine(logFormat, event, message, fields));
  const inst = startInstance(host);
  const balancer = new Balancer(inst.stack, {
    maxConns: fileConfig?.maxConns ?? config.maxConns,
    timeouts: fileConfig?.timeouts ?? config.timeouts,
    // Packet-path state changes (no real server left, and back): one line each.
    onEvent: log,
  });
  for (const service of buildServices(config)) balancer.addService(service);
  if (fileConfig !== undefined) applyConfig(balancer, fileConfig);
  balancer.attach();
  inst.handle(LB_ADMIN, (req) => {
    const op = checkAdminOp(req.change);
    const done = applyAdmin(balancer, op);
    log("config", done, { change: op });
    return done;
  });
  inst.handle(LB_SAVE, () => runningConfig(balancer, checks));
  let monitor: HealthMonitor | null = null;
  /** (Re)starts the health checks with `cfg`; servers a previous set had marked down start up. */
  const startChecks = (cfg: HealthConfig | null) => {
    if (monitor !== null) {
      monitor.stop();
      monitor = null;
      for (const service of balancer.services.list()) {
        for (const real of service.reals) {
          if (!real.available) service.editReal(real.address, real.port, { available: true });
        }
      }
    }
    checks = cfg;
    // State changes go to stderr, one line each (a JSON object with --log-format json).
    if (cfg !== null) {
      monitor = startHealthChecks(balancer, cfg, (event) => {
        console.error(formatHealthEvent(event, logFormat, new Date()));
      });
    }
  };
  const reload = async (): Promise<string[]> => {
    if (configFile === undefined) throw new Error("this instance was not started with --config");
    // Validated completely before anything changes: an invalid file leaves the old config.
    let next;
    try {
      next = await loadRunConfig(configFile, host);
    } catch (e) {
      log("reload_refused", e instanceof Error ? e.message : String(e), { file: configFile });
      throw e;
    }
    const nextChecks = next.health ?? null;
    if (health !== null && nextChecks !== null) {
      const msg = `${configFile}: "health" while --check flags are given (give one or the other)`;
      log("reload_refused", msg, { file: configFile });
      throw new Error(msg);
    }
    const changes = applyConfig(balancer, next);
    // Health checks from the file follow the file; flag-given ones stay as they are.
    if (health === null && JSON.stringify(nextChecks) !== JSON.stringify(checks)) {
      startChecks(nextChecks);
      changes.push(nextChecks === null ? "health checks removed" : "health checks changed");
    }
    log("reloaded", `${configFile}: ${changes.length} change(s)`, { file: configFile, changes });
    return changes;
  };
  inst.handle(LB_RELOAD, () => reload());
  const onHup = () => {
    // Both outcomes are logged by reload() itself.
    reload().catch(() => {});
  };
  if (configFile !== undefined) Deno.addSignalListener("SIGHUP", onHup);
  startChecks(checks);
  // ipvsadm --rate: the kernel estimator's 2 s EWMA, sampled on the tick (lb/rates.ts).
  const rates = new RateEstimator(inst.stack.clock);
  inst.stack.onTick(() => rates.maybeSample(rateItems(balancer.services.list())));
  inst.handle(LB_LIST, () => withRates(balancer.snapshot(), balancer.services.list(), rates));
  let metricsServer: MetricsServer | null = null;
  if (metrics !== null) {
    try {
      metricsServer = startMetricsServer(
        metrics,
        () => renderMetrics(balancer.snapshot(), inst.stack.counters.snapshot()),
      );
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
        throw new Error(
          `--metrics needs --allow-net=${metrics.hostname}:${metrics.port} (deno run ...)`,
        );
      }
      throw e;
    }
    console.log(`lb.ts: metrics on http://${metrics.hostname}:${metricsServer.addr.port}/metrics`);
  }
  inst.handle(LB_CONNS, (req) => {
    const limit = req.limit;
    return balancer.connections(
      typeof limit === "number" && Number.isInteger(limit) && limit > 0 ? limit : undefined,
    );
  });
  for (const line of describe(config)) console.log(line);
  if (fileConfig !== undefined) {
    console.log(`lb.ts: config ${configFile}: ${fileConfig.services.length} service(s)`);
  }
  console.log(readyLine("balancer", host, inst));
  try {
    await runUntilSignal(inst);
  } finally {
    if (configFile !== undefined) Deno.removeSignalListener("SIGHUP", onHup);
    await metricsServer?.shutdown();
  }
  console.log("lb.ts: balancer stopped");
  return 0;
}
