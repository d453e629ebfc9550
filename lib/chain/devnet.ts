/**
 * A local EVM chain for the demo and the tests: anvil from the npm package
 * `@foundry-rs/anvil` (its binary ships inside the platform tarball), bound to 127.0.0.1 on a
 * free port and stopped with the returned handle.
 *
 * @example
 * ```ts
 * import { startDevnet } from "./devnet.ts";
 * await using net = await startDevnet();
 * console.log(net.rpcUrl);
 * ```
 */
import { HDKey, hdKeyToAccount } from "viem/accounts";
import type { HDAccount } from "viem/accounts";
import { pbkdf2 } from "@noble/hashes/pbkdf2.js";
import { sha512 } from "@noble/hashes/sha2.js";
import { env } from "../config.ts";

/** anvil's well-known development mnemonic; its keys hold only devnet coins. */
export const DEVNET_MNEMONIC = "test test test test test test test test test test test junk";

export interface DevnetOptions {
  /** How many funded accounts to create (default 10). */
  accounts?: number;
  /** Balance of each account in ARTH (default 1,000,000). */
  balanceArth?: number;
  /** Chain id (default 31337). */
  chainId?: number;
  /** Print anvil's output (default false). */
  verbose?: boolean;
  /** Port on 127.0.0.1 (default: a free one). */
  port?: number;
}

export interface Devnet extends AsyncDisposable {
  rpcUrl: string;
  chainId: number;
  /** Funded accounts, in anvil's order. */
  accounts: HDAccount[];
  stop(): Promise<void>;
}

/** Error raised when the anvil binary cannot be found or does not start. */
export class DevnetError extends Error {
  readonly code = "DEVNET_FAILED";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DevnetError";
  }
}

const PLATFORM_PACKAGES: Record<string, string> = {
  "linux-x86_64": "anvil-linux-amd64",
  "linux-aarch64": "anvil-linux-arm64",
  "darwin-x86_64": "anvil-darwin-amd64",
  "darwin-aarch64": "anvil-darwin-arm64",
  "windows-x86_64": "anvil-win32-amd64",
};

/** Finds the anvil binary: $ANVIL_BIN, else the platform package under node_modules. */
export async function findAnvil(): Promise<string> {
  const fromEnv = env.anvilBin();
  if (fromEnv) return fromEnv;
  const pkg = PLATFORM_PACKAGES[`${Deno.build.os}-${Deno.build.arch}`];
  if (!pkg) throw new DevnetError(`Cannot start devnet: no anvil build for ${Deno.build.target}`);
  const exe = Deno.build.os === "windows" ? "anvil.exe" : "anvil";
  const store = new URL("../../node_modules/.deno/", import.meta.url);
  try {
    for await (const entry of Deno.readDir(store)) {
      if (entry.name.startsWith(`@foundry-rs+${pkg}@`)) {
        return new URL(`${entry.name}/node_modules/@foundry-rs/${pkg}/bin/${exe}`, store).pathname;
      }
    }
  } catch (cause) {
    throw new DevnetError("Cannot find anvil: run `deno install` first", { cause });
  }
  throw new DevnetError("Cannot find anvil: run `deno install` (installs npm:@foundry-rs/anvil)");
}

/** Ports handed out by `freePort` in this process, so two callers never get the same one. */
const handedOut = new Set<number>();

/**
 * A TCP port free on 127.0.0.1 right now, for a child process to listen on.
 *
 * Drawn at random below the ephemeral range (Linux 32768-60999, macOS and Windows 49152 up)
 * rather than asked of the OS with port 0: the OS hands out the next ephemeral port, the same
 * pool every outgoing connection draws from, so between this check and the child's bind any
 * `fetch` could take it (CI saw a coordinator refused its port that way). A racer that also
 * picks at random can still take it, with odds of about one in ten thousand.
 *
 * @example
 * ```ts
 * import { freePort } from "./devnet.ts";
 * const port = freePort();
 * console.assert(port >= 20000 && port < 32768 && freePort() !== port);
 * ```
 */
export function freePort(): number {
  for (let tries = 0; tries < 200; tries++) {
    const port = 20000 + Math.floor(Math.random() * 12768);
    if (handedOut.has(port)) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
    } catch {
      continue; // in use
    }
    handedOut.add(port);
    return port;
  }
  throw new DevnetError("Cannot find a free port on 127.0.0.1 between 20000 and 32767");
}

async function waitForRpc(rpcUrl: string, child: Deno.ChildProcess, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  child.status.then(() => exited = true);
  while (Date.now() < deadline) {
    if (exited) throw new DevnetError("Cannot start devnet: anvil exited during start-up");
    try {
      const res = await fetch(rpcUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      });
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new DevnetError(`Cannot start devnet: no answer on ${rpcUrl} within ${timeoutMs} ms`);
}

/** Recent blocks whose state the devnet keeps in memory. */
export const KEPT_STATES = 8;

/** Starts anvil on 127.0.0.1 with funded accounts; stop it with `stop()` or `await using`. */
export async function startDevnet(options: DevnetOptions = {}): Promise<Devnet> {
  const count = options.accounts ?? 10;
  const chainId = options.chainId ?? 31337;
  const balance = options.balanceArth ?? 1_000_000;
  if (!Number.isInteger(count) || count < 1) throw new RangeError("accounts must be >= 1");
  const bin = await findAnvil();
  const port = options.port ?? freePort();
  const child = new Deno.Command(bin, {
    args: [
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--accounts",
      String(count),
      "--balance",
      String(balance),
      "--chain-id",
      String(chainId),
      "--mnemonic",
      DEVNET_MNEMONIC,
      "--hardfork",
      "cancun",
      "--silent",
      // A short state history in memory only: anvil otherwise keeps every block's state and,
      // once its in-memory history is full, writes each to disk: a per-block cost growing with
      // the chain's state (10,000 registrations wrote 19 GB). With none at all ("--prune-history"
      // alone) a call at "latest" can race the next block and fail.
      `--prune-history=${KEPT_STATES}`,
    ],
    stdout: options.verbose ? "inherit" : "null",
    stderr: options.verbose ? "inherit" : "null",
  }).spawn();
  const rpcUrl = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    await child.status;
  };
  const accounts = devnetAccounts(count); // while anvil starts
  try {
    await waitForRpc(rpcUrl, child, 15_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return { rpcUrl, chainId, accounts, stop, [Symbol.asyncDispose]: stop };
}

/**
 * The first `count` accounts of {@link DEVNET_MNEMONIC}, as anvil funds them: the mnemonic's
 * BIP-39 seed is stretched once (2,048 PBKDF2 rounds; viem's mnemonicToAccount repeats that for
 * every account, 20 ms each), then each account is one BIP-32 derivation from it.
 *
 * @example
 * ```ts
 * import { mnemonicToAccount } from "viem/accounts";
 * import { DEVNET_MNEMONIC, devnetAccounts } from "./devnet.ts";
 * const [, a1] = devnetAccounts(2);
 * const want = mnemonicToAccount(DEVNET_MNEMONIC, { addressIndex: 1 });
 * if (a1!.address !== want.address) throw new Error("not anvil's account 1");
 * ```
 */
export function devnetAccounts(count: number): HDAccount[] {
  // BIP-39: seed = PBKDF2-HMAC-SHA512(mnemonic, "mnemonic" + passphrase); the mnemonic is ASCII,
  // so its NFKD normal form is itself.
  const seed = pbkdf2(sha512, DEVNET_MNEMONIC, "mnemonic", { c: 2048, dkLen: 64 });
  const master = HDKey.fromMasterSeed(seed);
  return Array.from({ length: count }, (_, i) => hdKeyToAccount(master, { addressIndex: i }));
}

/**
 * Moves a devnet's clock forward by `seconds` (anvil's evm_increaseTime); the next block carries
 * the new time. Only for local devnets: a real chain refuses the method.
 */
export async function advanceDevnetTime(
  client: { request: (args: never) => Promise<unknown> },
  seconds: number,
): Promise<void> {
  await client.request({ method: "evm_increaseTime", params: [seconds] } as never);
}
