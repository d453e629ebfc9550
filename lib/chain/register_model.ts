import { type Address, encodeAbiParameters, type Hex, keccak256 } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { getModel } from "./get_model.ts";
import { sendContract } from "./send_contract.ts";

/**
 * ModelRegistry's id of `owner`'s model `name`: keccak256(abi.encode(owner, name)).
 *
 * @example
 * ```ts
 * import { modelIdOf } from "./register_model.ts";
 * const id = modelIdOf("0x0000000000000000000000000000000000000001", "artha-1234abcd");
 * console.assert(/^0x[0-9a-f]{64}$/.test(id));
 * ```
 */
export function modelIdOf(owner: Address, name: string): Hex {
  return keccak256(encodeAbiParameters([{ type: "address" }, { type: "string" }], [owner, name]));
}

/**
 * Registers a model for a job in ModelRegistry (the client's account owns it) and lets
 * `publisher` (the coordinator) add its checkpoints; returns the model id. Two sends: a model
 * this account registered for this job already (a registration cut short between them) only gets
 * its publisher. Found in the job owner audit: `job start` after a submit cut there sent
 * registerModel again, which reverted ModelRegistry__AlreadyRegistered every time, and the job
 * was never started. A model of this name registered for another job still reverts so.
 */
export async function registerModel(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; name: string; jobId: Hex; publisher: Address },
): Promise<Hex> {
  const registry = { address: params.addresses.models, abi: abis.models } as const;
  const modelId = modelIdOf(client.account.address, params.name);
  const { addresses, publisher } = params;
  const model = await getModel(client, { addresses, modelId, publisher });
  const registered = BigInt(model.owner) !== 0n &&
    model.jobId.toLowerCase() === params.jobId.toLowerCase();
  if (!registered) {
    const args = [params.name, params.jobId] as const;
    await sendContract(client, { ...registry, functionName: "registerModel", args });
  }
  if (registered && model.publisher) return modelId;
  await sendContract(client, {
    ...registry,
    functionName: "setPublisher",
    args: [modelId, publisher, true],
  });
  return modelId;
}
