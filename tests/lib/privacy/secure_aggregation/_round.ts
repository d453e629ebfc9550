/**
 * Runs a whole secure-aggregation round in one process with scripted dropouts: the same calls
 * a coordinator and its workers make, message by message.
 */
import assert from "node:assert/strict";
import {
  SecAggClient,
  type SecAggClientOptions,
} from "../../../../lib/privacy/secure_aggregation/client.ts";
import {
  type SecAggResult,
  SecAggServer,
} from "../../../../lib/privacy/secure_aggregation/server.ts";
import {
  resolveParams,
  type SecAggConfig,
  type SecAggParams,
} from "../../../../lib/privacy/secure_aggregation/params.ts";
import type {
  ServerRequest,
  VerifyFn,
} from "../../../../lib/privacy/secure_aggregation/messages.ts";
import type { SecAggStage } from "../../../../lib/privacy/secure_aggregation/errors.ts";
import { gaussianDelta } from "../../_helpers.ts";

/** Who stops answering before which stage. */
export interface Dropouts {
  shareKeys?: readonly string[];
  maskedInput?: readonly string[];
  consistency?: readonly string[];
  unmasking?: readonly string[];
}

/** A round to simulate. */
export interface RoundSetup {
  config: SecAggConfig | SecAggParams;
  inputs?: (id: string) => Float32Array;
  drop?: Dropouts;
  clientOptions?: (id: string) => SecAggClientOptions;
  verify?: VerifyFn;
}

/** A config of `n` clients "c0".."c{n-1}" with a fixed seed. */
export function makeConfig(n: number, extra: Partial<SecAggConfig> = {}): SecAggConfig {
  return {
    context: `test:${crypto.randomUUID()}`,
    seed: `0x${"5a".repeat(32)}`,
    clients: Array.from({ length: n }, (_, i) => `c${i}`),
    vectorLength: 64,
    clip: 1,
    ...extra,
  };
}

/** Input of client `id`: seeded Gaussian values of std 0.4 (some get clipped at 1). */
export function defaultInput(params: SecAggParams): (id: string) => Float32Array {
  return (id) => gaussianDelta(params.vectorLength, 1 + params.index.get(id)!, 0.4);
}

/** Creates clients and server, runs every stage, returns the result and the parties. */
export async function runRound(setup: RoundSetup): Promise<{
  result: SecAggResult;
  server: SecAggServer;
  clients: Map<string, SecAggClient>;
  params: SecAggParams;
}> {
  const round = await advanceTo(setup, "Unmasking");
  await answer(round, round.requests, setup.drop?.unmasking);
  return { ...round, result: await round.server.finish() };
}

/** Runs the round until the server opens `stage`; returns the parties and its requests. */
export async function advanceTo(setup: RoundSetup, stage: SecAggStage) {
  const parties = await createParties(setup);
  const { server, clients, params } = parties;
  const drop = setup.drop ?? {};
  for (const c of clients.values()) assertOk(await server.receive(await c.advertiseKeys()));
  const skip: Record<string, readonly string[] | undefined> = {
    ShareKeys: drop.shareKeys,
    MaskedInputCollection: drop.maskedInput,
    ConsistencyCheck: drop.consistency,
  };
  let requests = server.closeStage();
  while (server.stage !== stage) {
    await answer(
      { ...parties, inputs: setup.inputs ?? defaultInput(params) },
      requests,
      skip[server.stage],
    );
    requests = server.closeStage();
  }
  return { ...parties, requests, inputs: setup.inputs ?? defaultInput(params) };
}

/** Every client not in `dropped` answers its request. */
export async function answer(
  round: {
    server: SecAggServer;
    clients: Map<string, SecAggClient>;
    inputs: (id: string) => Float32Array;
  },
  requests: Map<string, ServerRequest>,
  dropped?: readonly string[],
): Promise<void> {
  for (const [id, request] of requests) {
    if (dropped?.includes(id)) continue;
    const reply = await round.clients.get(id)!.respond(request, round.inputs(id));
    assertOk(await round.server.receive(reply));
  }
}

/** The parties of a round, before any message. */
export async function createParties(setup: RoundSetup) {
  const params = resolveParams(setup.config);
  const server = new SecAggServer(params, { verify: setup.verify });
  const clients = new Map<string, SecAggClient>();
  for (const id of params.clients) {
    clients.set(id, await SecAggClient.create(params, id, setup.clientOptions?.(id)));
  }
  return { params, server, clients };
}

/** What the sum must be exactly: each client's clipped value rounded at the scale, summed. */
export function expectedSum(
  params: SecAggParams,
  ids: readonly string[],
  inputs: (id: string) => Float32Array,
): Float64Array {
  const { scale, clip } = params;
  const ring = new Int32Array(params.vectorLength);
  for (const id of ids) {
    const x = inputs(id);
    for (let i = 0; i < ring.length; i++) {
      ring[i]! += Math.round(Math.max(-clip, Math.min(clip, x[i]!)) * scale);
    }
  }
  return Float64Array.from(ring, (v) => v / scale);
}

/** Fails with the server's message when a receipt is a refusal. */
export function assertOk(receipt: { ok: boolean; message?: string }): void {
  assert.ok(receipt.ok, String(receipt.message));
}
