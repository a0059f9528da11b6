/**
 * What an LLM call used, read from the answers of the OpenAI, Anthropic and
 * Vercel AI SDKs. The mappers read the answers' shapes (no SDK is imported),
 * so any version with these fields works.
 */

/** An LLM call's usage in allot's terms: the raw counts a model rate weighs. */
export interface TokenUsage {
  /** Input not served from a prompt cache (input written to a cache included). */
  input_tokens: number;
  /** Input read from a prompt cache. */
  cached_input_tokens: number;
  /** Output, reasoning included. */
  output_tokens: number;
  model?: string;
}

/** Reads the usage of one SDK's answers. */
export interface UsageMapper {
  /** The usage a whole (not streamed) answer reports, or undefined when it reports none. */
  response(answer: unknown): TokenUsage | undefined;
  /** A reader for one stream: fed each chunk in turn, it answers the usage reported so far. */
  stream(): (chunk: unknown) => TokenUsage | undefined;
}

/** The tokens allot counts for a usage today: every token once, whatever its kind. */
export function totalTokens(usage: TokenUsage): number {
  return usage.input_tokens + usage.cached_input_tokens + usage.output_tokens;
}

type Fields = { [name: string]: unknown };

function fields(value: unknown): Fields | undefined {
  return typeof value === 'object' && value !== null ? (value as Fields) : undefined;
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
}

function withModel(usage: TokenUsage, model: unknown): TokenUsage {
  return typeof model === 'string' && model !== '' ? { ...usage, model } : usage;
}

/**
 * Input counts that include cached input (OpenAI's `prompt_tokens` and
 * `input_tokens`, the AI SDK's `inputTokens`) split into the two kinds.
 */
function split(allInput: number, cached: number | undefined, output: number): TokenUsage {
  const fromCache = Math.min(cached ?? 0, allInput);
  return { input_tokens: allInput - fromCache, cached_input_tokens: fromCache, output_tokens: output };
}

function openaiFromUsage(usage: Fields | undefined, model: unknown): TokenUsage | undefined {
  if (!usage) return undefined;
  const prompt = count(usage.prompt_tokens);
  if (prompt !== undefined) {
    // Chat Completions: completion_tokens already includes completion_tokens_details.reasoning_tokens.
    const cached = count(fields(usage.prompt_tokens_details)?.cached_tokens);
    return withModel(split(prompt, cached, count(usage.completion_tokens) ?? 0), model);
  }
  const input = count(usage.input_tokens);
  if (input !== undefined) {
    // Responses: output_tokens already includes output_tokens_details.reasoning_tokens.
    const cached = count(fields(usage.input_tokens_details)?.cached_tokens);
    return withModel(split(input, cached, count(usage.output_tokens) ?? 0), model);
  }
  return undefined;
}

function openaiAnswer(answer: unknown): TokenUsage | undefined {
  const value = fields(answer);
  if (!value) return undefined;
  // A Responses stream event (`response.completed`, `.incomplete`, `.failed`) carries the response.
  const response = fields(value.response);
  if (response) return openaiFromUsage(fields(response.usage), response.model);
  return openaiFromUsage(fields(value.usage), value.model);
}

/**
 * The `openai` SDK: a Chat Completion or a Responses API response; streamed,
 * the final chunk of Chat Completions (`stream_options: { include_usage: true }`)
 * or the Responses API's `response.completed` event.
 */
export const openaiUsage: UsageMapper = {
  response: openaiAnswer,
  stream() {
    let usage: TokenUsage | undefined;
    return (chunk) => (usage = openaiAnswer(chunk) ?? usage);
  },
};

interface AnthropicCounts {
  input: number;
  cacheCreation: number;
  cacheRead: number;
  output: number;
  model: unknown;
}

function anthropicCounts(usage: Fields | undefined, model: unknown): AnthropicCounts | undefined {
  if (!usage) return undefined;
  const input = count(usage.input_tokens);
  const output = count(usage.output_tokens);
  if (input === undefined && output === undefined) return undefined;
  return {
    input: input ?? 0,
    cacheCreation: count(usage.cache_creation_input_tokens) ?? 0,
    cacheRead: count(usage.cache_read_input_tokens) ?? 0,
    output: output ?? 0,
    model,
  };
}

function anthropicUsageOf(counts: AnthropicCounts | undefined): TokenUsage | undefined {
  if (!counts) return undefined;
  // Anthropic's input_tokens leave out both cache kinds: a cache write is input not served from a cache.
  const usage = { input_tokens: counts.input + counts.cacheCreation, cached_input_tokens: counts.cacheRead, output_tokens: counts.output };
  return withModel(usage, counts.model);
}

/**
 * `@anthropic-ai/sdk`: a Message; streamed (`messages.create({ stream: true })`
 * or `messages.stream()`), `message_start` and the cumulative `message_delta`
 * counts.
 */
export const anthropicUsage: UsageMapper = {
  response(answer) {
    const message = fields(answer);
    return anthropicUsageOf(anthropicCounts(fields(message?.usage), message?.model));
  },
  stream() {
    let counts: AnthropicCounts | undefined;
    return (chunk) => {
      const event = fields(chunk);
      if (event?.type === 'message_start') {
        const message = fields(event.message);
        counts = anthropicCounts(fields(message?.usage), message?.model) ?? counts;
      } else if (event?.type === 'message_delta' && counts) {
        // Delta counts are cumulative; a null one leaves the count as message_start gave it.
        const delta = fields(event.usage) ?? {};
        counts = {
          ...counts,
          input: count(delta.input_tokens) ?? counts.input,
          cacheCreation: count(delta.cache_creation_input_tokens) ?? counts.cacheCreation,
          cacheRead: count(delta.cache_read_input_tokens) ?? counts.cacheRead,
          output: count(delta.output_tokens) ?? counts.output,
        };
      }
      return anthropicUsageOf(counts);
    };
  },
};

/** The AI SDK's `LanguageModelUsage`: `inputTokens` counts all input, cached included. */
function aiSdkFromUsage(usage: Fields | undefined): TokenUsage | undefined {
  if (!usage) return undefined;
  const input = count(usage.inputTokens);
  const output = count(usage.outputTokens);
  if (input === undefined && output === undefined) return undefined;
  const cached = count(fields(usage.inputTokenDetails)?.cacheReadTokens) ?? count(usage.cachedInputTokens);
  return split(input ?? 0, cached, output ?? 0);
}

function aiSdkAnswer(answer: unknown): TokenUsage | undefined {
  const value = fields(answer);
  if (!value) return undefined;
  for (const member of ['totalUsage', 'usage']) {
    const usage = value[member];
    if (typeof fields(usage)?.then === 'function') {
      throw new TypeError(`aiSdkUsage: ${member} is a promise (a streamText result): meter its fullStream, or settle a meter in onFinish`);
    }
    const mapped = aiSdkFromUsage(fields(usage));
    if (mapped) return withModel(mapped, fields(value.response)?.modelId);
  }
  return aiSdkFromUsage(value);
}

function sum(a: TokenUsage | undefined, b: TokenUsage | undefined): TokenUsage | undefined {
  if (!a || !b) return a ?? b;
  return {
    input_tokens: a.input_tokens + b.input_tokens,
    cached_input_tokens: a.cached_input_tokens + b.cached_input_tokens,
    output_tokens: a.output_tokens + b.output_tokens,
    ...(b.model ?? a.model ? { model: b.model ?? a.model } : {}),
  };
}

/**
 * The Vercel `ai` SDK: a `generateText` result (its `totalUsage`, all steps),
 * a step, an `onFinish` event, or a `LanguageModelUsage` itself; streamed, the
 * parts of `fullStream` (`finish-step` adds a step, `finish` gives the total).
 */
export const aiSdkUsage: UsageMapper = {
  response: aiSdkAnswer,
  stream() {
    let steps: TokenUsage | undefined;
    let total: TokenUsage | undefined;
    return (chunk) => {
      const part = fields(chunk);
      if (part?.type === 'finish-step') steps = sum(steps, aiSdkAnswer({ usage: part.usage, response: part.response }));
      if (part?.type === 'finish') total = aiSdkFromUsage(fields(part.totalUsage));
      return total ? withModel(total, steps?.model) : steps;
    };
  },
};
