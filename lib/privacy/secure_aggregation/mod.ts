/**
 * Secure aggregation for federated rounds: SecAgg+ (Bonawitz et al. 2017, "Practical Secure
 * Aggregation for Privacy-Preserving Machine Learning"; Bell et al. 2020, neighbour graphs of
 * degree O(log n)). The server learns the sum of the surviving clients' clipped (and, with
 * `noiseStd`, DP-noised) updates and who is in it, nothing about any single update; the round
 * survives clients that drop out after sharing their keys. See README.md for who sees what.
 *
 * Per round the coordinator publishes a {@link SecAggConfig}; every worker makes a
 * {@link SecAggClient}, the coordinator a {@link SecAggServer}:
 *
 * | stage                 | client -> server             | server -> client (closeStage)    |
 * | --------------------- | ---------------------------- | -------------------------------- |
 * | AdvertiseKeys         | `advertiseKeys()`            | ShareKeysRequest (neighbour keys) |
 * | ShareKeys             | `shareKeys(req)`             | MaskedInputRequest (its shares)  |
 * | MaskedInputCollection | `maskInput(req, update)`     | UnmaskRequest (or Consistency)   |
 * | ConsistencyCheck (opt)| `consistencyCheck(req)`      | UnmaskRequest + signatures       |
 * | Unmasking             | `unmask(req)`                | — `finish()` gives the sum       |
 *
 * @example
 * ```ts
 * import { SecAggClient, SecAggServer } from "./mod.ts";
 * const config = {
 *   context: "job-7:round-2",
 *   seed: `0x${"ab".repeat(32)}` as const,
 *   clients: ["n1", "n2", "n3", "n4"],
 *   vectorLength: 3,
 *   clip: 1,
 * };
 * const server = new SecAggServer(config);
 * const clients = new Map<string, SecAggClient>();
 * for (const id of config.clients) clients.set(id, await SecAggClient.create(config, id));
 * for (const c of clients.values()) await server.receive(await c.advertiseKeys());
 * const update = new Float32Array([0.5, -0.25, 2]); // 2 is clipped to 1
 * while (server.stage !== "Unmasking") {
 *   for (const [id, request] of server.closeStage()) {
 *     if (server.stage === "MaskedInputCollection" && id === "n4") continue; // n4 drops out
 *     await server.receive(await clients.get(id)!.respond(request, update));
 *   }
 * }
 * const { sum, included, excluded } = await server.finish();
 * console.assert(sum.join() === "1.5,-0.75,3" && included.length === 3);
 * console.assert(excluded.n4 === "no-masked-input");
 * ```
 *
 * @module
 */
export { SecAggClient, type SecAggClientOptions } from "./client.ts";
export {
  type ExclusionReason,
  type SecAggResult,
  SecAggServer,
  type SecAggServerOptions,
} from "./server.ts";
export { resolveParams, type SecAggConfig, type SecAggParams } from "./params.ts";
export * from "./messages.ts";
export * from "./errors.ts";
export { clientNoiseStd, survivingNoiseStd } from "./noise.ts";
