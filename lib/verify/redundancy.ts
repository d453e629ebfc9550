/**
 * Redundancy grouping: nodes given the same task (same shard, seed and starting weights) must
 * commit the same result, because the kernel is bit-identical. Per task group, a strict majority
 * (at least two agreeing, as VerificationManager.groupMajority) is the result; it is counted once
 * in aggregation, and members with any other result are outliers.
 *
 * @example
 * ```ts
 * import { groupResults } from "./redundancy.ts";
 * const g = groupResults([
 *   { nodePubkey: "0xa", group: 1, resultHash: "0x01" },
 *   { nodePubkey: "0xb", group: 1, resultHash: "0x01" },
 *   { nodePubkey: "0xc", group: 1, resultHash: "0x02" },
 * ]);
 * console.assert(g[0]!.counted === "0xa" && g[0]!.outliers.join() === "0xc");
 * ```
 */

/** One node's committed result and its task group. */
export interface GroupedResult {
  nodePubkey: string;
  group: number;
  resultHash: string;
}

/** The outcome of one task group. */
export interface GroupOutcome {
  group: number;
  /** The majority result (or the only one, when the group has a single member). */
  majority?: string;
  /** Whether a strict majority of at least two agrees. */
  consensus: boolean;
  /** The one node whose update represents the group in aggregation. */
  counted?: string;
  agreeing: string[];
  outliers: string[];
}

/**
 * Groups results by task group and splits each into majority and outliers. A majority must be
 * strict over the whole group (`sizeOf(group)`, default: the members that reported), as
 * VerificationManager.settleRedundancy counts it: members that sent nothing count against it, so
 * colluders that report first cannot outvote honest members that report later.
 */
export function groupResults(
  results: GroupedResult[],
  sizeOf: (group: number) => number = () => 0,
): GroupOutcome[] {
  const byGroup = new Map<number, GroupedResult[]>();
  for (const r of results) byGroup.set(r.group, [...(byGroup.get(r.group) ?? []), r]);
  const out: GroupOutcome[] = [];
  for (const [group, members] of [...byGroup].sort((a, b) => a[0] - b[0])) {
    const counts = new Map<string, number>();
    for (const m of members) counts.set(m.resultHash, (counts.get(m.resultHash) ?? 0) + 1);
    let majority: string | undefined;
    let best = 0;
    for (const [h, c] of counts) if (c > best) [majority, best] = [h, c];
    const size = Math.max(members.length, sizeOf(group));
    const consensus = best >= 2 && best * 2 > size;
    const sorted = members.map((m) => m.nodePubkey).sort();
    if (members.length === 1) {
      out.push({ group, majority, consensus, counted: sorted[0], agreeing: sorted, outliers: [] });
      continue;
    }
    if (!consensus) {
      out.push({ group, consensus, agreeing: [], outliers: [] });
      continue;
    }
    const agreeing = members.filter((m) => m.resultHash === majority).map((m) => m.nodePubkey)
      .sort();
    const outliers = members.filter((m) => m.resultHash !== majority).map((m) => m.nodePubkey)
      .sort();
    out.push({ group, majority, consensus, counted: agreeing[0], agreeing, outliers });
  }
  return out;
}
