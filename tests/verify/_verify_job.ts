/**
 * What the verification tests check a run with (verify_run.ts): claim the timeouts of every open
 * challenge, read a node's slashes and state back. Re-exports the run, so a test imports one
 * module.
 */
import type { Hex } from "viem";
import { abis } from "../../lib/chain/contracts.ts";
import { openChallenges, timeoutChallenge } from "../../lib/verify/challenge_chain.ts";
import type { VerifyRun } from "./verify_run.ts";

export { challengeAll, closeRound, startVerifyRun, type VerifyRun } from "./verify_run.ts";

/** Lets the response window pass and claims every timeout; returns the nodes that failed. */
export async function expireChallenges(run: VerifyRun, nodes: Hex[]): Promise<Hex[]> {
  const window = await run.validator.readContract({
    address: run.addresses.verification,
    abi: abis.verification,
    functionName: "responseWindow",
  });
  await run.validator.request(
    { method: "evm_increaseTime" as never, params: [Number(window) + 1] as never },
  );
  await run.validator.request({ method: "evm_mine" as never, params: [] as never });
  const failed: Hex[] = [];
  for (const n of nodes) {
    for (
      const c of await openChallenges(run.validator, { addresses: run.addresses, nodePubkey: n })
    ) {
      await timeoutChallenge(run.validator, {
        addresses: run.addresses,
        challengeId: c.challengeId,
      });
      failed.push(n);
    }
  }
  return failed;
}

/** Every NodeSlashed event of a node: [amount, reason]. */
export async function slashesOf(run: VerifyRun, node: Hex): Promise<[bigint, number][]> {
  const logs = await run.validator.getContractEvents({
    address: run.addresses.registry,
    abi: abis.registry,
    eventName: "NodeSlashed",
    args: { nodePubkey: node },
    fromBlock: 0n,
  });
  return logs.map((l) => [l.args.amount!, l.args.reason!]);
}

/** Stake and active flag of a node. */
export async function nodeState(run: VerifyRun, node: Hex) {
  const n = await run.validator.readContract({
    address: run.addresses.registry,
    abi: abis.registry,
    functionName: "getNode",
    args: [node],
  });
  return { stake: n.stake, active: n.active, offences: n.offences };
}
