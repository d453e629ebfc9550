// @ts-nocheck -- AssemblyScript, compiled by scripts/build_kernel.ts; Deno cannot type it.
// Entry point compiled to kernel.wasm: re-exports every op. Built by scripts/build_kernel.ts.
export { dot4Naive, expScalar, setScratch } from "./util.ts";
export {
  biasGrad,
  biasGradCols,
  gemm,
  gemmNaive,
  gemmRows,
  gemmScratchBytes,
  matmulBackward,
  matmulBackwardNaive,
  matmulForward,
  matmulForwardNaive,
} from "./matmul.ts";
export {
  biasAddBackward,
  biasAddBackwardNaive,
  biasAddForward,
  biasAddForwardNaive,
  residualBackward,
  residualBackwardNaive,
  residualForward,
  residualForwardNaive,
} from "./elementwise.ts";
export {
  encoderBackward,
  encoderBackwardNaive,
  encoderForward,
  encoderForwardNaive,
} from "./encoder.ts";
export {
  layernormBackward,
  layernormBackwardInput,
  layernormBackwardNaive,
  layernormBackwardParams,
  layernormForward,
  layernormForwardNaive,
} from "./layernorm.ts";
export { geluBackward, geluBackwardNaive, geluForward, geluForwardNaive } from "./gelu.ts";
export {
  softmaxBackward,
  softmaxBackwardNaive,
  softmaxForward,
  softmaxForwardNaive,
} from "./softmax.ts";
export {
  attentionBackward,
  attentionBackwardHeads,
  attentionBackwardNaive,
  attentionForward,
  attentionForwardHeads,
  attentionForwardNaive,
} from "./attention.ts";
export {
  crossEntropyBackward,
  crossEntropyBackwardNaive,
  crossEntropyForward,
  crossEntropyForwardNaive,
} from "./crossentropy.ts";
export { ssmBackward, ssmBackwardNaive, ssmForward, ssmForwardNaive } from "./ssm.ts";
export {
  adamwUpdate,
  adamwUpdateNaive,
  fillZero,
  initNormal,
  scaleInPlace,
  scaleInPlaceNaive,
  sgdMomentumUpdate,
  sgdMomentumUpdateNaive,
  sumF64,
  sumSquares,
  sumSquaresFrom,
} from "./optim.ts";
export { dropoutBackward, dropoutBackwardNaive, dropoutForward } from "./dropout.ts";
