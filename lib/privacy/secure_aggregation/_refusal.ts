/**
 * The honest client's rules for Unmasking, as pure functions: what it refuses and, if it
 * answers, which share it reveals for each neighbour. These rules are what stop a lying server
 * from getting both b_v and s_v^SK of one live client v (and so v's input).
 *
 * @module
 */
import { UnmaskRefusedError } from "./errors.ts";

/** Which share of a neighbour's secrets is revealed. */
export type ShareKind = "self-mask" | "mask-key";

/**
 * Refuses a survivor set that also lists a client as dropped, leaves out `self` (which is
 * alive: it sent its input), or is smaller than `minSurvivors`.
 */
export function checkSurvivorSet(
  self: string,
  alive: ReadonlySet<string>,
  gone: ReadonlySet<string>,
  minSurvivors: number,
): void {
  const both = [...gone].find((v) => alive.has(v));
  if (both !== undefined) throw new UnmaskRefusedError({ reason: "both-shares", client: both });
  if (!alive.has(self)) throw new UnmaskRefusedError({ reason: "self-dropped", client: self });
  if (alive.size < minSurvivors) throw new UnmaskRefusedError({ reason: "too-few-survivors" });
}

/**
 * For each neighbour whose shares this client holds: b's share if it survived, s^SK's if it
 * dropped, nothing if unlisted. Refuses when that differs from what was revealed before.
 */
export function planReveal(
  held: Iterable<string>,
  alive: ReadonlySet<string>,
  gone: ReadonlySet<string>,
  revealed: ReadonlyMap<string, ShareKind>,
): [string, ShareKind][] {
  const plan: [string, ShareKind][] = [];
  for (const v of held) {
    const kind: ShareKind | undefined = alive.has(v)
      ? "self-mask"
      : gone.has(v)
      ? "mask-key"
      : undefined;
    if (!kind) continue;
    const before = revealed.get(v);
    if (before && before !== kind) {
      throw new UnmaskRefusedError({ reason: "conflicts-earlier-answer", client: v });
    }
    plan.push([v, kind]);
  }
  return plan;
}

/**
 * With ConsistencyCheck: the request must name exactly the survivor set this client signed,
 * with valid signatures of at least `minSurvivors` distinct survivors on it.
 */
export async function checkConsistency(
  signed: { survivors: string | undefined; payload: Uint8Array; minSurvivors: number },
  request: { survivors: string; signatures?: { id: string; signature: `0x${string}` }[] },
  alive: ReadonlySet<string>,
  verify: (id: string, m: Uint8Array, s: `0x${string}`) => boolean | Promise<boolean>,
): Promise<void> {
  const refuse = () => new UnmaskRefusedError({ reason: "consistency" });
  if (signed.survivors === undefined || request.survivors.toLowerCase() !== signed.survivors) {
    throw refuse();
  }
  const valid = new Set<string>();
  for (const { id, signature } of request.signatures ?? []) {
    if (alive.has(id) && !valid.has(id) && await verify(id, signed.payload, signature)) {
      valid.add(id);
    }
  }
  if (valid.size < signed.minSurvivors) throw refuse();
}
