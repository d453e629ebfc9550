/**
 * Entry point bundled by determinism_test.ts and run under Node:
 *   node runner.mjs <path to kernel.wasm>
 * Prints the determinism cases' digests as JSON.
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { createKernel } from "../../kernel/wasm_module.ts";
import { runCases } from "./determinism_case.ts";

const path = process.argv[2];
if (!path) throw new TypeError("Cannot run: pass the path of kernel.wasm");
console.log(JSON.stringify(runCases(createKernel(readFileSync(path)))));
