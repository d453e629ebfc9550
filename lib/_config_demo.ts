/**
 * The settings of `deno task demo`, read by lib/config.ts readDemoSettings. Private to
 * lib/config.ts.
 *
 * @module
 */
import { type CodecName, CODECS, ROBUST, type RobustName } from "./job/job_spec.ts";
import { STORE_KINDS, type StoreKind } from "./store/open_store.ts";
import type { FlagValues, SettingsReader } from "./_config_reader.ts";
import {
  bool,
  finish,
  parseFlags,
  readSynchronous,
  refuseOperatorKey,
  str,
} from "./_config_shared.ts";

/** The demo's defaults: 8 laptops and 2 spares, 5 rounds of 80 steps (B 2) of a 2-layer GPT. */
export const DEMO_DEFAULTS = {
  nodes: 8,
  spares: 2,
  rounds: 5,
  localSteps: 80,
  drop: 0,
  width: 64,
  layers: 2,
  strategy: "fedavg" as "fedavg" | "diloco",
  out: "artha-demo",
};

/**
 * What `deno task demo` runs with: demo_steps.ts's DemoOptions is this type with the sequence
 * shape (T, B) added and the switches optional, so each field is described here once.
 */
export interface DemoSettings {
  /** Laptops that train, and spares that take over a silent laptop's task. */
  nodes: number;
  spares: number;
  rounds: number;
  localSteps: number;
  /** Share of nodes that go silent after the first round. */
  drop: number;
  width: number;
  layers: number;
  strategy: "fedavg" | "diloco";
  compression?: { codec: CodecName; fraction: number; parts?: number };
  robust?: { strategy: RobustName };
  verification?: {
    redundancy: number;
    challengeRate: number;
    sampleRate: number;
    committee: boolean;
  };
  /** Cluster aggregation by laptops (clusters of 16). */
  hierarchical: boolean;
  /** Secure aggregation: the coordinator learns only each round's sum. */
  secureAggregation?: Record<string, never>;
  /** Local optimizer (default AdamW). */
  optimizer?: "adamw" | "sgd";
  /** The local lr; with `synchronous`, the server Adam's. */
  lr?: number;
  /** The synchronous recipe (lib/job/recipe.ts): one SGD step a round, Adam on the server. */
  synchronous: boolean;
  privacy?: { clip: number; noiseMultiplier: number; delta: number; maxEpsilon: number };
  /** The HTML report (absolute), else `<out>/report.html`. */
  report?: string;
  /** The folder that keeps the published model, the job summary and the report (absolute);
   * undefined with --no-out. */
  out?: string;
  /** The coordinator's SVDB backend (default fs; kv as on Deno Deploy). */
  store?: StoreKind;
  /** Headless Chromium tabs joining through GET /join beside the laptops (0: none). */
  browsers: number;
  quiet: boolean;
}

const DEMO_FLAGS = {
  nodes: str,
  spares: str,
  rounds: str,
  "local-steps": str,
  drop: str,
  width: str,
  layers: str,
  strategy: str,
  codec: str,
  fraction: str,
  parts: str,
  robust: str,
  dp: str,
  epsilon: str,
  verify: bool,
  hierarchical: bool,
  "secure-aggregation": bool,
  optimizer: str,
  lr: str,
  synchronous: bool,
  report: str,
  out: str,
  "no-out": bool,
  store: str,
  browsers: str,
  quiet: bool,
};

/** --codec and its --fraction and --parts. */
function compression(r: SettingsReader, nodes: number): DemoSettings["compression"] {
  const codec = r.choice({ flag: "codec" }, CODECS);
  const fraction = r.number({ flag: "fraction" }, 0.01, Number.MIN_VALUE, 1)!;
  const parts = r.int({ flag: "parts" }, undefined, 1, 1024);
  // An option of another codec was ignored without a word (found walking through the README as a
  // new user: `--fraction 0.5` alone ran the same spec as no flag at all).
  const topk = codec === "topk" || codec === "topk-int8";
  if (r.raw({ flag: "fraction" }).text !== undefined && !topk) {
    r.fail("--fraction", `applies to --codec topk or topk-int8 only, got ${codec ?? "no --codec"}`);
  }
  if (parts !== undefined && codec !== "partition") {
    r.fail("--parts", `applies to --codec partition only, got ${codec ?? "no --codec"}`);
  }
  if (codec === undefined) return undefined;
  if (r.flag("verify") && codec !== "fp32" && codec !== "partition") {
    // A node's update then depends on its own error-feedback residual (lib/job/job_spec.ts).
    r.fail("--codec", `must be fp32 or partition with --verify (redundancy 3), got ${codec}`);
  }
  if (codec !== "partition") return { codec, fraction };
  // One part per task group at most (the coordinator refuses more, after the escrow): 8, or fewer.
  const groups = Math.ceil(nodes / (r.flag("verify") ? 3 : 1));
  if (parts !== undefined && parts > groups) {
    const of = r.flag("verify") ? "a third of --nodes, rounded up" : "--nodes";
    r.fail("--parts", `must be at most the job's task groups (${of}: ${groups}), got ${parts}`);
  }
  return { codec, fraction, parts: parts ?? Math.min(8, groups) };
}

/** --dp NOISE and its --epsilon budget. */
function privacy(r: SettingsReader): DemoSettings["privacy"] {
  const noiseMultiplier = r.number({ flag: "dp" }, undefined, Number.MIN_VALUE, 1000);
  const maxEpsilon = r.number({ flag: "epsilon" }, 100, Number.MIN_VALUE);
  if (noiseMultiplier === undefined && r.raw({ flag: "epsilon" }).text !== undefined) {
    r.fail(
      "--epsilon",
      "applies with --dp NOISE only (the budget of a differentially private job)",
    );
  }
  if (noiseMultiplier === undefined) return undefined;
  return { clip: 1, noiseMultiplier, delta: 1e-5, maxEpsilon: maxEpsilon! };
}

/** See lib/config.ts readDemoSettings. */
export function readDemo(
  args: string[],
  reader: (flags: FlagValues) => SettingsReader,
): DemoSettings {
  const { values, positionals } = parseFlags(args, DEMO_FLAGS, "deno task demo");
  const r = reader(values);
  refuseOperatorKey(r, positionals);
  if (positionals.length) r.fail(positionals.join(" "), "is not expected");
  const d = DEMO_DEFAULTS;
  const nodes = r.int({ flag: "nodes" }, d.nodes, 1, 100_000)!;
  const robust = r.choice({ flag: "robust" }, ROBUST);
  const report = r.raw({ flag: "report" }).text;
  const synchronous = readSynchronous(r, ["optimizer", "strategy"]);
  const settings: DemoSettings = {
    nodes,
    spares: r.int({ flag: "spares" }, d.spares, 0, 100_000)!,
    rounds: r.int({ flag: "rounds" }, d.rounds, 1, 10_000)!,
    localSteps: synchronous ? 1 : r.int({ flag: "local-steps" }, d.localSteps, 1, 100_000)!,
    drop: r.number({ flag: "drop" }, d.drop, 0, 0.9)!,
    width: r.int({ flag: "width" }, d.width, 4, 8192)!,
    layers: r.int({ flag: "layers" }, d.layers, 1, 64)!,
    strategy: r.choice({ flag: "strategy" }, ["fedavg", "diloco"] as const, d.strategy)!,
    compression: compression(r, nodes),
    robust: robust ? { strategy: robust } : undefined,
    verification: r.flag("verify")
      ? { redundancy: 3, challengeRate: 0.25, sampleRate: 0.02, committee: true }
      : undefined,
    hierarchical: r.flag("hierarchical"),
    secureAggregation: r.flag("secure-aggregation") ? {} : undefined,
    optimizer: r.choice({ flag: "optimizer" }, ["adamw", "sgd"] as const),
    lr: r.number({ flag: "lr" }, undefined, Number.MIN_VALUE, 10),
    synchronous,
    privacy: privacy(r),
    report: report === undefined ? undefined : r.resolve(report, "--report"),
    out: r.flag("no-out") ? undefined : r.path({ flag: "out" }, d.out),
    store: r.choice({ flag: "store" }, STORE_KINDS),
    browsers: r.int({ flag: "browsers" }, 0, 0, 64)!,
    quiet: r.flag("quiet"),
  };
  finish(r);
  return settings;
}
