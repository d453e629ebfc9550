/**
 * The model-size ladder (slow: minutes per size), one fresh process per size so peak RSS is that
 * size's own:   deno task bench:kernel --ladder [--sizes 86M,304M] [--steps 2] [--force]
 * (a size planned past 75% of free memory is skipped unless --force, up to 95%)
 *
 * Each size trains `--steps` full steps (forward, backward, AdamW with clipping) of one
 * 1024-token sequence on the threads build with every core, with the offload trainer (state in
 * host memory, activation recomputation). Reports seconds/step (the last step; the first
 * includes V8's tier-up), tokens/s, peak RSS over the process's baseline, and the prediction of
 * kernel/memory_plan.ts beside it.
 *
 * Vocabulary is the kernel's 256 bytes, so each shape has fewer parameters than its GPT-2/3
 * namesake (whose 50257-token embedding is 38.6M of GPT-2 small's 124M); layers, width, heads
 * and context are theirs.
 */
import { encodeText, sampleBatch } from "../kernel/data.ts";
import { planStepMemory } from "../kernel/memory_plan.ts";
import { createOffloadTrainer } from "../kernel/offload.ts";
import { DEFAULT_ADAMW, initOptState } from "../kernel/optimizer.ts";
import { initWeights, type ModelConfig, paramLayout } from "../kernel/params.ts";
import { loadThreadedKernel } from "../kernel/threads.ts";
import type { Hyper } from "../kernel/train_step.ts";

/** [name, layers, width, heads]: GPT-2 small, GPT-2 medium, a 500M step, GPT-3 XL (1.3B). */
export const LADDER: [string, number, number, number][] = [
  ["gpt2-small shape", 12, 768, 12],
  ["gpt2-medium shape", 24, 1024, 16],
  ["500M", 26, 1280, 20],
  ["gpt3-xl shape (1.3B)", 24, 2048, 16],
];
const T = 1024;
const B = 1;

function hyperFor(layers: number, width: number, heads: number): Hyper {
  const model: ModelConfig = { kind: "gpt", maxT: T, layers, heads, width };
  return {
    model,
    B,
    T,
    accumSteps: 1,
    schedule: { lr: 3e-4, warmupSteps: 10, totalSteps: 1000, minLrRatio: 0.1 },
    optimizer: DEFAULT_ADAMW,
    gradClip: 1,
  };
}

/** Resident and peak-resident bytes of this process (Linux /proc). */
function rss(): { now: number; peak: number } {
  const status = Deno.readTextFileSync("/proc/self/status");
  const kb = (key: string) => Number(status.match(new RegExp(`${key}:\\s+(\\d+)`))?.[1] ?? 0);
  return { now: kb("VmRSS") * 1024, peak: kb("VmHWM") * 1024 };
}

/** MemAvailable of /proc/meminfo, in bytes. */
function availableBytes(): number {
  const info = Deno.readTextFileSync("/proc/meminfo");
  return Number(info.match(/MemAvailable:\s+(\d+)/)?.[1] ?? 0) * 1024;
}

interface Row {
  name: string;
  params: number;
  threads: number;
  stepSeconds: number[];
  tokensPerSecond: number;
  peakBytes: number;
  plannedBytes: number;
  linearBytes: number;
}

async function child(index: number, steps: number): Promise<Row> {
  const [name, layers, width, heads] = LADDER[index]!;
  const threads = navigator.hardwareConcurrency;
  const kernel = await loadThreadedKernel({ threads });
  const base = rss().now;
  const hyper = hyperFor(layers, width, heads);
  const layout = paramLayout(hyper.model);
  const text = encodeText(
    "It is a truth universally acknowledged, that a single man in possession of a good " +
      "fortune, must be in want of a wife. ".repeat(64),
  );
  const trainer = createOffloadTrainer(
    kernel,
    hyper,
    initWeights(kernel, layout, 1),
    initOptState("adamw", layout.size),
  );
  const stepSeconds: number[] = [];
  for (let s = 0; s < steps; s++) {
    const batch = sampleBatch(text, B, T, 1, s);
    const t0 = performance.now();
    const { loss } = trainer.step(batch, s);
    stepSeconds.push((performance.now() - t0) / 1000);
    if (!Number.isFinite(loss)) throw new Error(`Cannot bench ${name}: loss ${loss}`);
  }
  const plan = planStepMemory(hyper, { threads, offload: true });
  kernel.close();
  const last = stepSeconds[stepSeconds.length - 1]!;
  return {
    name,
    params: layout.size,
    threads,
    stepSeconds,
    tokensPerSecond: (B * T) / last,
    peakBytes: rss().peak - base,
    plannedBytes: plan.total,
    linearBytes: kernel.ops.memory.buffer.byteLength,
  };
}

/** Runs each size in its own process and prints the table. */
export async function runLadder(args: string[]): Promise<void> {
  const flag = (f: string) => args[args.indexOf(f) + 1];
  const steps = args.includes("--steps") ? Number(flag("--steps")) : 2;
  const wanted = args.includes("--sizes") ? flag("--sizes")!.split(",") : undefined;
  const G = 2 ** 30;
  console.log(
    `\nladder: one step = forward + backward (recomputed) + AdamW of B=${B} x T=${T} tokens, ` +
      `offload trainer, ${navigator.hardwareConcurrency} threads`,
  );
  console.log(
    "model                  layers  width heads    params  s/step  tokens/s  peak GiB  " +
      "planned GiB  planned/peak",
  );
  for (const [i, [name, layers, width, heads]] of LADDER.entries()) {
    const params = paramLayout(hyperFor(layers, width, heads).model).size;
    if (wanted && !wanted.some((w) => name.includes(w) || `${Math.round(params / 1e6)}M` === w)) {
      continue;
    }
    // Skip a size whose planned memory would crowd out everything else on this machine.
    const plan = planStepMemory(hyperFor(layers, width, heads), {
      threads: navigator.hardwareConcurrency,
      offload: true,
    });
    const free = availableBytes();
    // --force runs it anyway when it still fits (nothing else may then run beside it).
    const guard = args.includes("--force") ? 0.95 : 0.75;
    if (plan.total > guard * free) {
      console.log(
        `${name.padEnd(22)} skipped: plans ${(plan.total / G).toFixed(1)} GiB, ` +
          `${(free / G).toFixed(1)} GiB available`,
      );
      continue;
    }
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(import.meta.url).pathname, "--child", `${i}`, `${steps}`],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (!out.success) {
      console.log(`${name.padEnd(22)} failed (exit ${out.code})`);
      continue;
    }
    const r: Row = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
    const last = r.stepSeconds[r.stepSeconds.length - 1]!;
    console.log(
      `${r.name.padEnd(22)} ${String(layers).padStart(6)} ${String(width).padStart(6)} ${
        String(heads).padStart(5)
      } ${(r.params / 1e6).toFixed(1).padStart(8)}M ${last.toFixed(1).padStart(7)} ${
        r.tokensPerSecond.toFixed(1).padStart(9)
      } ${(r.peakBytes / G).toFixed(2).padStart(9)} ${
        (r.plannedBytes / G).toFixed(2).padStart(12)
      } ${(r.plannedBytes / r.peakBytes).toFixed(3).padStart(13)}   (steps ${
        r.stepSeconds.map((s) => s.toFixed(1)).join(", ")
      } s)`,
    );
  }
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--child");
  if (i >= 0) {
    const row = await child(Number(Deno.args[i + 1]), Number(Deno.args[i + 2] ?? 2));
    console.log(JSON.stringify(row));
  } else {
    await runLadder(Deno.args);
  }
}
