/**
 * The OpenAI shapes of the inference service (POST /v1/completions, GET /v1/models): completion
 * objects and stream chunks, usage, errors and the model list, which OpenAI's clients read.
 *
 * @module
 */
import type { Generation } from "./models.ts";
import type { ModelListing } from "./model_listing.ts";

/** One completion's fixed fields in OpenAI's shape: its id, creation second and model. */
export interface OpenAiCompletionAt {
  id: string;
  created: number;
  model: string;
}

/** An OpenAI `text_completion` object (or stream chunk) carrying `text`. */
export function openAiChoice(at: OpenAiCompletionAt, text: string, finish: string | null) {
  return {
    ...at,
    object: "text_completion",
    choices: [{ text, index: 0, logprobs: null, finish_reason: finish }],
  };
}

/** OpenAI's `usage` of a generation (tokens are bytes here). */
export function openAiUsage(g: Generation) {
  return {
    prompt_tokens: g.promptTokens,
    completion_tokens: g.generatedTokens,
    total_tokens: g.promptTokens + g.generatedTokens,
  };
}

/**
 * An error in OpenAI's shape, `{ error: { message, type, param, code } }`, which OpenAI's clients
 * read: `type` is invalid_request_error for a 4xx, server_error otherwise; `code` is ours.
 *
 * @example
 * ```ts
 * import { openAiError } from "./model_openai.ts";
 * const e = openAiError(404, "UNKNOWN_MODEL", "Cannot infer: unknown model");
 * console.assert(e.error.type === "invalid_request_error" && e.error.param === null);
 * ```
 */
export function openAiError(status: number, code: string, message: string) {
  const type = status < 500 ? "invalid_request_error" : "server_error";
  // OpenAI's clients show `param`: the field a 400 names (`Invalid field "top_k": ...`).
  const param = /^Invalid field "([^"]+)"/.exec(message)?.[1] ?? null;
  return { error: { message, type, param, code } };
}

/**
 * OpenAI's model object of a listed model. `owned_by` is the job of a job's folder, else the
 * model that published the CID, or "shared" when several did (found in the inference audit: the
 * first to publish a CID was shown as its only owner); `publishers` names every one.
 */
export function openAiModel(m: ModelListing, created: number) {
  const publishers = (m.publishers ?? []).map((p) => ({
    model_id: p.modelId,
    version: p.version,
    weights_digest: p.weightsDigest,
  }));
  const owner = m.jobId ??
    (publishers.length === 1 ? publishers[0]!.model_id : publishers.length ? "shared" : undefined);
  return { id: m.cid, object: "model", created, owned_by: owner ?? "arthatrain", publishers };
}

/**
 * OpenAI's model list (`models.list()` of its clients) over a page of the servable models, with
 * the cursor fields of OpenAI's paginated lists (`after=<last_id>` asks for the next page).
 */
export function openAiModelList(models: ModelListing[], created: number, hasMore = false) {
  const data = models.map((m) => openAiModel(m, created));
  return {
    object: "list",
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: hasMore,
  };
}

/** The server-sent events of a streamed completion: chunks, the usage and `[DONE]`, an error. */
export function openAiStreamFrames(at: OpenAiCompletionAt) {
  const data = (body: unknown) => `data: ${JSON.stringify(body)}\n\n`;
  return {
    piece: (text: string) => data(openAiChoice(at, text, null)),
    done: (g: Generation) =>
      data({ ...openAiChoice(at, "", g.finishReason), usage: openAiUsage(g) }) + "data: [DONE]\n\n",
    // OpenAI's clients raise on a chunk carrying `error`, in the same shape as a non-2xx body.
    error: (code: string, message: string, status: number) =>
      data(openAiError(status, code, message)),
  };
}
