/**
 * A local HTTP server answering in the wire formats of OpenAI (Chat
 * Completions and Responses) and Anthropic (Messages), streamed as
 * server-sent events too, with fixed usage counts, for driving the real SDKs.
 *
 * A request whose model is `fail` is answered 400; a streamed request whose
 * model is `hang` sends its first events and then nothing more, until the
 * client goes away.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Chat Completions: 1200 prompt tokens (200 of them cached), 300 completion tokens (100 of them reasoning). */
export const CHAT_USAGE = {
  prompt_tokens: 1200,
  completion_tokens: 300,
  total_tokens: 1500,
  prompt_tokens_details: { cached_tokens: 200, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 100, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
};

/** Responses: 900 input tokens (400 of them cached), 250 output tokens (50 of them reasoning). */
export const RESPONSES_USAGE = {
  input_tokens: 900,
  input_tokens_details: { cached_tokens: 400 },
  output_tokens: 250,
  output_tokens_details: { reasoning_tokens: 50 },
  total_tokens: 1150,
};

/** Messages: 50 uncached input tokens, 1000 written to the cache, 2000 read from it, 400 output tokens. */
export const MESSAGE_USAGE = {
  input_tokens: 50,
  cache_creation_input_tokens: 1000,
  cache_read_input_tokens: 2000,
  output_tokens: 400,
};

/** The output_tokens message_start reports before any text. */
export const MESSAGE_START_OUTPUT = 1;

export interface LlmServer {
  url: string;
  /** Requests answered, by path. */
  requests: Map<string, number>;
  close(): Promise<void>;
}

export async function startLlmServer(): Promise<LlmServer> {
  const requests = new Map<string, number>();
  const open = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    void answer(req, res).catch((error: unknown) => {
      res.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  });

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    requests.set(path, (requests.get(path) ?? 0) + 1);
    let text = '';
    for await (const chunk of req) text += String(chunk);
    const body = JSON.parse(text || '{}') as { model?: string; stream?: boolean; stream_options?: { include_usage?: boolean } };
    const model = body.model ?? 'model';
    if (model === 'fail') return json(res, 400, { error: { type: 'invalid_request_error', message: 'bad request' } });
    open.add(res);
    res.on('close', () => open.delete(res));
    const hang = model === 'hang';
    if (path === '/v1/chat/completions') {
      if (!body.stream) return json(res, 200, chatCompletion(model));
      return sse(res, chatChunks(model, body.stream_options?.include_usage === true), hang ? 2 : undefined);
    }
    if (path === '/v1/responses') {
      if (!body.stream) return json(res, 200, response(model, 'completed'));
      return sse(res, responseEvents(model), hang ? 2 : undefined);
    }
    if (path === '/v1/messages') {
      if (!body.stream) return json(res, 200, message(model));
      return sse(res, messageEvents(model), hang ? 3 : undefined);
    }
    return json(res, 404, { error: { message: `no route ${path}` } });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      for (const res of open) res.destroy();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
}

interface SseEvent {
  event?: string;
  data: unknown;
}

/** Sends the events; with `stopAfter`, sends that many and then keeps the connection open without a word. */
function sse(res: ServerResponse, events: SseEvent[], stopAfter?: number): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  for (const { event, data } of events.slice(0, stopAfter)) {
    res.write(`${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  }
  if (stopAfter === undefined) res.end();
}

const CREATED = 1_767_225_600;

function chatCompletion(model: string) {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: CREATED,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello there.', refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage: CHAT_USAGE,
  };
}

function chatChunks(model: string, includeUsage: boolean): SseEvent[] {
  const chunk = (delta: object, finish: string | null) => ({
    id: 'chatcmpl-1', object: 'chat.completion.chunk', created: CREATED, model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {}),
  });
  const events: SseEvent[] = [
    { data: chunk({ role: 'assistant', content: '' }, null) },
    { data: chunk({ content: 'Hello' }, null) },
    { data: chunk({ content: ' there.' }, null) },
    { data: chunk({}, 'stop') },
  ];
  if (includeUsage) {
    events.push({ data: { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: CREATED, model, choices: [], usage: CHAT_USAGE } });
  }
  events.push({ data: '[DONE]' });
  return events;
}

function response(model: string, status: 'in_progress' | 'completed') {
  const done = status === 'completed';
  return {
    id: 'resp_1',
    object: 'response',
    created_at: CREATED,
    status,
    model,
    output: done
      ? [{ type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Hello there.', annotations: [] }] }]
      : [],
    output_text: done ? 'Hello there.' : '',
    parallel_tool_calls: true,
    tool_choice: 'auto',
    tools: [],
    error: null,
    incomplete_details: null,
    instructions: null,
    metadata: {},
    temperature: 1,
    top_p: 1,
    usage: done ? RESPONSES_USAGE : null,
  };
}

function responseEvents(model: string): SseEvent[] {
  return [
    { event: 'response.created', data: { type: 'response.created', sequence_number: 0, response: response(model, 'in_progress') } },
    { event: 'response.output_text.delta', data: { type: 'response.output_text.delta', sequence_number: 1, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Hello', logprobs: [] } },
    { event: 'response.output_text.delta', data: { type: 'response.output_text.delta', sequence_number: 2, item_id: 'msg_1', output_index: 0, content_index: 0, delta: ' there.', logprobs: [] } },
    { event: 'response.completed', data: { type: 'response.completed', sequence_number: 3, response: response(model, 'completed') } },
  ];
}

function message(model: string) {
  return {
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text: 'Hello there.', citations: null }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { ...MESSAGE_USAGE, server_tool_use: null, service_tier: 'standard' },
  };
}

function messageEvents(model: string): SseEvent[] {
  const start = { ...message(model), content: [], stop_reason: null, usage: { ...MESSAGE_USAGE, output_tokens: MESSAGE_START_OUTPUT } };
  return [
    { event: 'message_start', data: { type: 'message_start', message: start } },
    { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '', citations: null } } },
    { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } } },
    { event: 'ping', data: { type: 'ping' } },
    { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ' there.' } } },
    { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
    {
      event: 'message_delta',
      data: {
        type: 'message_delta',
        delta: { stop_reason: 'end_turn', stop_sequence: null },
        usage: { output_tokens: MESSAGE_USAGE.output_tokens, input_tokens: null, cache_creation_input_tokens: null, cache_read_input_tokens: null },
      },
    },
    { event: 'message_stop', data: { type: 'message_stop' } },
  ];
}
