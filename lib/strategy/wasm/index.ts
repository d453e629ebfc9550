// @ts-nocheck -- AssemblyScript entry, compiled by scripts/build_aggregate.ts.
// deno-lint-ignore-file
export { addLimbs, carry, deposit, finalize, scanMaxBits } from "./fixed_point.ts";
export { maskWindows, medianColumns, sortColumns, windowLows } from "./columns.ts";
export { squaredDistances } from "./distances.ts";
