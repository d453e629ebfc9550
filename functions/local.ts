/**
 * The coordinator in-process, for the demo, tests and benchmarks: every function behind one
 * router over a fresh KV file and an SVDB in `dir` (a directory, or with `store: "kv"` the same
 * KV database, as on Deno Deploy), with a clock that can be moved forward (round deadlines) and a
 * `call`/`post` pair that needs no port.
 */
import type { ArthaClient } from "../lib/chain/client.ts";
import type { ArthaAddresses } from "../lib/chain/contracts.ts";
import { openStore, type StoreKind } from "../lib/store/open_store.ts";
import {
  type Context,
  type CoordinatorConfig,
  DEFAULT_CONFIG,
} from "../lib/coordinator/context.ts";
import { accountUploadSigner, signJson, uploadDomain } from "../lib/store/upload_signature.ts";
import { createRouter } from "./router.ts";

/** An account that signs requests (an ArthaClient). */
export type AccountSigner = Pick<ArthaClient, "account" | "signTypedData">;

export interface LocalCoordinator extends AsyncDisposable {
  ctx: Context;
  /** A request to the router; `path` is relative to the coordinator. */
  call(path: string, init?: RequestInit): Promise<Response>;
  /** POSTs `body` as JSON. */
  post(path: string, body: unknown): Promise<Response>;
  /** POSTs `body` as JSON signed by `signer`'s account (the job owner's POST /assign). */
  postAs(signer: AccountSigner, path: string, body: unknown): Promise<Response>;
  /** Moves the coordinator's clock forward. */
  advance(ms: number): void;
  close(): Promise<void>;
}

/** Opens KV and SVDB under `dir` and serves every function over them. */
export async function startLocalCoordinator(options: {
  dir: string;
  client: ArthaClient;
  addresses: ArthaAddresses;
  chainId: number;
  config?: Partial<CoordinatorConfig>;
  /** SVDB backend: `fs` (default, `dir/svdb`), `kv` (the coordinator's KV) or `memory`. */
  store?: StoreKind;
}): Promise<LocalCoordinator> {
  const kv = await Deno.openKv(`${options.dir}/coordinator.kv`);
  const store = await openStore({ kind: options.store ?? "fs", dir: `${options.dir}/svdb`, kv });
  let offset = 0;
  const ctx: Context = {
    kv,
    store,
    chain: { client: options.client, addresses: options.addresses, chainId: options.chainId },
    config: { ...DEFAULT_CONFIG, ...options.config },
    now: () => Date.now() + offset,
  };
  const route = createRouter(ctx);
  const call = (path: string, init?: RequestInit) =>
    route(new Request(`http://coordinator${path}`, init));
  const close = async () => {
    await store.close(); // leaves the shared KV open
    kv.close();
  };
  const postAs = async (signer: AccountSigner, path: string, body: unknown) => {
    const domain = uploadDomain(options.chainId, options.addresses.registry);
    const signed = await signJson(accountUploadSigner(signer), domain, path, body, ctx.now());
    return await call(path, { method: "POST", ...signed });
  };
  return {
    ctx,
    call,
    postAs,
    post: (path, body) =>
      call(path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
    advance: (ms) => void (offset += ms),
    close,
    [Symbol.asyncDispose]: close,
  };
}
