/**
 * Checks before anything is spent: the chain answers at the configured URL with the configured
 * chain id and has code at every contract address, the coordinator answers and runs on the same
 * chain and deployment, and an account holds enough to pay. Each failure is a
 * {@link PreflightError} whose message names the URL, both values that disagree, and the setting
 * to change.
 *
 * @example
 * ```ts
 * import { checkChain, PreflightError } from "./preflight.ts";
 * const endpoint = {
 *   rpcUrl: "http://127.0.0.1:9", chainId: 31337,
 *   names: { rpcUrl: "ARTHA_RPC_URL", chainId: "ARTHA_CHAIN_ID" },
 * };
 * const e = await checkChain(endpoint, { attempts: 1 }).catch((e) => e);
 * console.assert(e instanceof PreflightError && e.code === "RPC_UNREACHABLE");
 * ```
 */
import { type Address, formatEther } from "viem";
import type { ChainEndpoint } from "../config.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { readBounded, readPrefix } from "../store/bounded_body.ts";

/** Most bytes of a preflight answer: an RPC result or /info is a few KB, not gigabytes. */
const MAX_ANSWER_BYTES = 1 << 20;

/** `res`'s JSON, refused past {@link MAX_ANSWER_BYTES}. */
async function boundedJson(res: Response): Promise<unknown> {
  const bytes = await readBounded(
    res.body,
    MAX_ANSWER_BYTES,
    Number(res.headers.get("content-length") ?? 0),
  );
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** Stable codes of a failed check. */
export type PreflightCode =
  | "RPC_UNREACHABLE"
  | "CHAIN_ID_MISMATCH"
  | "CONTRACTS_MISSING"
  | "COORDINATOR_UNREACHABLE"
  | "COORDINATOR_MISMATCH"
  | "INSUFFICIENT_FUNDS"
  | "STAKE_ABOVE_LIMIT";

/** A check before spending failed; the message says what to change. */
export class PreflightError extends Error {
  constructor(readonly code: PreflightCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PreflightError";
  }
}

/** The deployment a program expects, and the setting it came from. */
export interface ExpectedDeployment {
  addresses: ArthaAddresses;
  /** e.g. "ARTHA_ADDRESSES (/home/me/.artha/addresses.json)". */
  name: string;
}

/** Options of {@link checkChain}. */
export interface CheckChainOptions {
  /** Also check there is code at each of these addresses. */
  deployment?: ExpectedDeployment;
  /** Tries while the endpoint does not answer (default 3, 1 s apart, doubling). */
  attempts?: number;
  /** Per request (default 5 s). */
  timeoutMs?: number;
  onRetry?: (message: string, inMs: number) => void;
}

/**
 * `url` as it may be shown: its scheme, host and port, with "/..." for anything dropped. An RPC
 * URL may hold an API key in its user, password, path or query (found in the CLI audit: deploy
 * printed `http://user:secret@host/KEY` whole when the chain did not answer).
 *
 * @example
 * ```ts
 * import { redactUrl } from "./preflight.ts";
 * console.assert(redactUrl("https://u:p@rpc.example.org:8545/KEY?k=1") === "https://rpc.example.org:8545/...");
 * ```
 */
export function redactUrl(url: string): string {
  const u = URL.parse(url);
  if (!u) return "(a URL that does not parse)";
  const more = u.username || u.password || u.search || u.hash || u.pathname.length > 1;
  return `${u.protocol}//${u.host}${more ? "/..." : ""}`;
}

/** The first line of an error's message and of its causes', without fetch's noise. */
export function reasonOf(e: unknown): string {
  const seen: string[] = [];
  for (let c = e, i = 0; c && i < 4; c = (c as Error).cause, i++) {
    const line = String((c as Error).message ?? c).split("\n")[0]!.trim()
      .replace(/error sending request for url \([^)]*\): /, "")
      .replace(/client error \(Connect\): /, "");
    if (line && !seen.some((s) => s.includes(line))) seen.push(line);
  }
  return seen.join(": ") || String(e);
}

async function rpcCall(url: string, method: string, params: unknown[], timeoutMs: number) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status} ${await readPrefix(res.body, 120)}`);
  const body = await boundedJson(res) as { result?: unknown; error?: { message?: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message ?? "error"}`);
  return body.result;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Checks the chain: it answers, its chain id is the configured one, and each contract of the
 * deployment has code.
 *
 * @throws {PreflightError} RPC_UNREACHABLE, CHAIN_ID_MISMATCH or CONTRACTS_MISSING
 */
export async function checkChain(
  endpoint: ChainEndpoint,
  options: CheckChainOptions = {},
): Promise<void> {
  const { rpcUrl, chainId, names } = endpoint;
  const shown = redactUrl(rpcUrl);
  const timeoutMs = options.timeoutMs ?? 5_000;
  const attempts = options.attempts ?? 3;
  let actual: number | undefined;
  for (let attempt = 1; actual === undefined; attempt++) {
    try {
      actual = Number(BigInt(await rpcCall(rpcUrl, "eth_chainId", [], timeoutMs) as string));
    } catch (e) {
      const why = `Cannot reach the chain at ${shown} (${names.rpcUrl}): ${reasonOf(e)}`;
      if (attempt >= attempts) {
        throw new PreflightError(
          "RPC_UNREACHABLE",
          `${why}; start one with \`deno task chain\` or set ${names.rpcUrl}`,
          { cause: e },
        );
      }
      const wait = 1000 * 2 ** (attempt - 1);
      options.onRetry?.(why, wait);
      await sleep(wait);
    }
  }
  if (actual !== chainId) {
    throw new PreflightError(
      "CHAIN_ID_MISMATCH",
      `Cannot use the chain at ${shown}: its chain id is ${actual}, but ${names.chainId} is ` +
        `${chainId}; set ${names.chainId}=${actual}, or point ${names.rpcUrl} at chain ${chainId}`,
    );
  }
  if (options.deployment) await checkCode(endpoint, options.deployment, timeoutMs);
}

async function checkCode(endpoint: ChainEndpoint, d: ExpectedDeployment, timeoutMs: number) {
  const missing: string[] = [];
  for (const [name, address] of Object.entries(d.addresses)) {
    const code = await rpcCall(endpoint.rpcUrl, "eth_getCode", [address, "latest"], timeoutMs);
    if (typeof code !== "string" || code === "0x" || code === "0x0") {
      missing.push(`${name} ${address}`);
    }
  }
  if (missing.length === 0) return;
  throw new PreflightError(
    "CONTRACTS_MISSING",
    `Cannot use the deployment in ${d.name}: chain ${endpoint.chainId} at ${
      redactUrl(endpoint.rpcUrl)
    } ` +
      `has no contract at ${missing.join(", ")}; deploy with \`deno task deploy\` or set ` +
      `${d.name.split(" ")[0]} to this chain's addresses`,
  );
}

/** What GET /info tells about a coordinator. */
export interface CoordinatorInfo {
  chainId: number;
  addresses: ArthaAddresses;
  /** The coordinator's account (the publisher of job models). */
  coordinator: Address;
}

/**
 * What to do about a coordinator nobody answers at: found in a new user's walkthrough, the chain's
 * and the deployment's errors named the command to run, the coordinator's did not.
 *
 * @example
 * ```ts
 * import { coordinatorHint } from "./preflight.ts";
 * console.assert(coordinatorHint("http://127.0.0.1:8787").includes("deno task serve"));
 * ```
 */
export function coordinatorHint(base: string): string {
  const host = (() => {
    try {
      return new URL(base).hostname;
    } catch {
      return "";
    }
  })();
  const local = host === "127.0.0.1" || host === "localhost" || host === "[::1]";
  return local
    ? "start one with `deno task serve`, or point --coordinator (ARTHA_COORDINATOR) at yours"
    : "check --coordinator (ARTHA_COORDINATOR) and that the coordinator is up";
}

/**
 * Checks the coordinator answers and runs on the same chain and deployment.
 *
 * @throws {PreflightError} COORDINATOR_UNREACHABLE or COORDINATOR_MISMATCH
 */
export async function checkCoordinator(
  url: string,
  expected: { chainId: number; chainIdName: string; deployment?: ExpectedDeployment },
  options: { timeoutMs?: number } = {},
): Promise<CoordinatorInfo> {
  let info: CoordinatorInfo;
  try {
    const res = await fetch(`${url}/info`, {
      signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status} on GET /info`);
    info = await boundedJson(res) as CoordinatorInfo;
  } catch (e) {
    throw new PreflightError(
      "COORDINATOR_UNREACHABLE",
      `Cannot reach the coordinator at ${url}: ${reasonOf(e)}; ${coordinatorHint(url)}`,
      { cause: e },
    );
  }
  const fix = `set ${expected.chainIdName} and the addresses to the coordinator's, or use ` +
    "the coordinator of your chain";
  if (info.chainId !== expected.chainId) {
    throw new PreflightError(
      "COORDINATOR_MISMATCH",
      `Cannot use the coordinator at ${url}: it runs on chain id ${info.chainId}, but ` +
        `${expected.chainIdName} is ${expected.chainId}; ${fix}`,
    );
  }
  const d = expected.deployment;
  const theirs = info.addresses?.registry?.toLowerCase();
  if (d && theirs !== d.addresses.registry.toLowerCase()) {
    throw new PreflightError(
      "COORDINATOR_MISMATCH",
      `Cannot use the coordinator at ${url}: its registry is ${info.addresses?.registry}, but ` +
        `${d.name} has ${d.addresses.registry}; ${fix}`,
    );
  }
  return info;
}

/**
 * Waits until the coordinator answers (backing off to 30 s between tries), then checks it as
 * {@link checkCoordinator} does. A mismatch is thrown at once; the wait ends with the signal.
 */
export async function waitForCoordinator(
  url: string,
  expected: Parameters<typeof checkCoordinator>[1],
  options: { signal?: AbortSignal; onRetry?: (message: string, inMs: number) => void } = {},
): Promise<CoordinatorInfo> {
  for (let attempt = 0;; attempt++) {
    try {
      return await checkCoordinator(url, expected);
    } catch (e) {
      if (!(e instanceof PreflightError) || e.code !== "COORDINATOR_UNREACHABLE") throw e;
      if (options.signal?.aborted) throw e;
      const wait = Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5));
      options.onRetry?.(e.message, wait);
      await sleep(wait);
    }
  }
}

/**
 * Checks `address` holds at least `need` wei (plus a margin for gas) before it spends.
 *
 * @throws {PreflightError} INSUFFICIENT_FUNDS naming the account, its balance and the need
 */
export async function checkFunds(
  client: { getBalance(args: { address: Address }): Promise<bigint> },
  params: { address: Address; need: bigint; action: string; gas?: bigint },
): Promise<void> {
  const gas = params.gas ?? 10n ** 16n; // 0.01 ARTH of gas is plenty on an EVM devnet
  const balance = await client.getBalance({ address: params.address });
  if (balance >= params.need + gas) return;
  throw new PreflightError(
    "INSUFFICIENT_FUNDS",
    `Cannot ${params.action}: account ${params.address} holds ${formatEther(balance)} ARTH, ` +
      `which is less than the ${formatEther(params.need)} ARTH needed plus gas; fund it or use ` +
      "another ARTHA_PRIVATE_KEY (`deno task chain` prints funded development keys)",
  );
}
