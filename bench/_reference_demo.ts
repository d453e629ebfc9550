/**
 * The demo's reference job as issue 16 measured it: DEFAULT_DEMO's model and rounds at B 8 x 20
 * steps. The demo's default since, B 2 x 80 steps, is its "local B 2" variant in
 * ./federated_quality.ts; ./compress_reference.ts measures the codecs on it.
 *
 * @module
 */
import { DEFAULT_DEMO } from "../demo.ts";

export const REFERENCE_DEMO = { ...DEFAULT_DEMO, B: 8, localSteps: 20 };
