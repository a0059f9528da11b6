/**
 * The metering helpers around the real `openai`, `@anthropic-ai/sdk` and `ai`
 * packages, talking to a local server in each API's wire format, counted by a
 * real allot: every count is checked to the token.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import Anthropic from '@anthropic-ai/sdk';
import { generateText, streamText } from 'ai';
import OpenAI from 'openai';
import {
  AllotApiError, AllotClient, aiSdkCallbacks, aiSdkUsage, anthropicUsage, openaiUsage, usageInput, type Settlement, type TokenUsage,
} from '../../packages/client/src/index.ts';
import { DIALECTS } from '../support/dialects.ts';
import { MASTER_KEY, startAllot } from '../support/harness.ts';
import { CHAT_USAGE, MESSAGE_START_OUTPUT, MESSAGE_USAGE, RESPONSES_USAGE, startLlmServer } from './llm-server.ts';

const START = '2026-01-31T12:00:00.000Z';
const SHOP = 'acme';
const ALLOWANCE = 1_000_000;

/** What each wire format's fixed usage is in allot's terms. */
const CHAT: TokenUsage = { input_tokens: 1000, cached_input_tokens: 200, output_tokens: 300 };
const RESPONSES: TokenUsage = { input_tokens: 500, cached_input_tokens: 400, output_tokens: 250 };
const MESSAGE: TokenUsage = { input_tokens: 1050, cached_input_tokens: 2000, output_tokens: 400 };
const total = (usage: TokenUsage) => usage.input_tokens + usage.cached_input_tokens + usage.output_tokens;

for (const dialect of DIALECTS) {
  test(`${dialect}: metered LLM calls count what the SDKs report, once`, async (t) => {
    const allot = await startAllot(dialect, { clock: START });
    t.after(allot.close);
    const llm = await startLlmServer();
    t.after(llm.close);
    const client = new AllotClient({ baseUrl: allot.url, apiKey: MASTER_KEY });
    await client.plans.create({
      id: 'llm', display_name: 'LLM', allocated_tokens: ALLOWANCE, price_minor: 100, currency: 'USD', billing_cycle: 'monthly', tier: 1,
    });
    const openai = new OpenAI({ baseURL: `${llm.url}/v1`, apiKey: 'sk-test', maxRetries: 0 });
    const anthropic = new Anthropic({ baseURL: llm.url, apiKey: 'sk-ant-test', maxRetries: 0 });
    const local = createOpenAICompatible({ name: 'local', baseURL: `${llm.url}/v1`, apiKey: 'sk-test', includeUsage: true });
    const messages = [{ role: 'user' as const, content: 'Hello?' }];

    /** A fresh user for each case, so each case's counts are its own. */
    let users = 0;
    async function subscriber(): Promise<string> {
      const user = `user-${++users}`;
      await client.subscriptions.put(SHOP, user, { plan_id: 'llm' });
      return user;
    }
    /** Checks the event `id` stored `tokens` and is the user's only usage, with no hold left. */
    async function assertCounted(user: string, id: string, tokens: number): Promise<void> {
      assert.equal((await client.usage.get(id, { shop_id: SHOP })).tokens, tokens);
      const sub = await client.subscriptions.get(SHOP, user);
      assert.equal(sub.used_tokens, tokens);
      assert.equal(sub.reserved_tokens, 0);
      assert.equal((await client.usage.list({ shop_id: SHOP, user_id: user })).data.length, 1);
    }
    async function assertNothingCounted(user: string, id: string): Promise<void> {
      await assert.rejects(client.usage.get(id, { shop_id: SHOP }), (error) => error instanceof AllotApiError && error.status === 404);
      const sub = await client.subscriptions.get(SHOP, user);
      assert.equal(sub.used_tokens, 0);
      assert.equal(sub.reserved_tokens, 0);
    }

    await t.test('openai Chat Completions: the answer, then a retry with the same id that counts once', async () => {
      const user = await subscriber();
      const spec = { shop_id: SHOP, user_id: user, id: 'chat-1', estimate: 2000, usage: openaiUsage };
      const call = () => openai.chat.completions.create({ model: 'gpt-test', messages });
      const completion = await client.metered(spec, call);
      assert.equal(completion.choices[0]?.message.content, 'Hello there.');
      assert.deepEqual(openaiUsage.response(completion), { ...CHAT, model: 'gpt-test' });
      assert.equal(total(CHAT), CHAT_USAGE.total_tokens);
      await assertCounted(user, 'chat-1', 1500);

      const before = llm.requests.get('/v1/chat/completions');
      const again = await client.metered(spec, call);
      assert.equal(again.choices[0]?.message.content, 'Hello there.');
      assert.equal(llm.requests.get('/v1/chat/completions'), (before ?? 0) + 1);
      await assertCounted(user, 'chat-1', 1500);
    });

    await t.test('openai Chat Completions streamed: the final usage chunk', async () => {
      const user = await subscriber();
      const stream = await client.metered(
        { shop_id: SHOP, user_id: user, id: 'chat-stream', estimate: 2000, usage: openaiUsage },
        () => openai.chat.completions.create({ model: 'gpt-test', messages, stream: true, stream_options: { include_usage: true } }),
      );
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      assert.equal(text, 'Hello there.');
      const settlement: Settlement = await stream.meter.settled;
      assert.equal(settlement.outcome, 'committed');
      assert.deepEqual(settlement.usage, { ...CHAT, model: 'gpt-test' });
      await assertCounted(user, 'chat-stream', 1500);
    });

    await t.test('openai Chat Completions streamed without a usage chunk: the estimate counts', async () => {
      const user = await subscriber();
      const stream = await client.metered(
        { shop_id: SHOP, user_id: user, id: 'chat-no-usage', estimate: 777, usage: openaiUsage },
        () => openai.chat.completions.create({ model: 'gpt-test', messages, stream: true }),
      );
      for await (const _chunk of stream) continue;
      assert.equal((await stream.meter.settled).usage, null);
      await assertCounted(user, 'chat-no-usage', 777);
    });

    await t.test('openai Chat Completions streamed, stopped before its usage: the hold is released', async () => {
      const user = await subscriber();
      const stream = await client.metered(
        { shop_id: SHOP, user_id: user, id: 'chat-stopped', estimate: 2000, usage: openaiUsage },
        () => openai.chat.completions.create({ model: 'hang', messages, stream: true, stream_options: { include_usage: true } }),
      );
      assert.equal((await client.subscriptions.get(SHOP, user)).reserved_tokens, 2000);
      for await (const chunk of stream) {
        assert.equal(chunk.choices[0]?.delta.role, 'assistant');
        break;
      }
      assert.equal((await stream.meter.settled).outcome, 'released');
      await assertNothingCounted(user, 'chat-stopped');
    });

    await t.test('openai: a failed call releases its hold, and a retry with the same id then counts', async () => {
      const user = await subscriber();
      const spec = { shop_id: SHOP, user_id: user, id: 'chat-retried', estimate: 2000, usage: openaiUsage };
      await assert.rejects(
        client.metered(spec, () => openai.chat.completions.create({ model: 'fail', messages })),
        (error) => error instanceof OpenAI.BadRequestError,
      );
      await assertNothingCounted(user, 'chat-retried');
      await client.metered(spec, () => openai.chat.completions.create({ model: 'gpt-test', messages }));
      await assertCounted(user, 'chat-retried', 1500);
    });

    await t.test('a commit whose answer is lost is sent again and counts once', async () => {
      const user = await subscriber();
      let commits = 0;
      const flaky = new AllotClient({
        baseUrl: allot.url,
        apiKey: MASTER_KEY,
        fetch: async (input, init) => {
          const response = await fetch(input, init);
          if (String(input).endsWith('/commit') && ++commits === 1) throw new TypeError('fetch failed');
          return response;
        },
      });
      const stream = await flaky.metered(
        { shop_id: SHOP, user_id: user, id: 'lost-answer', estimate: 2000, usage: openaiUsage },
        () => openai.chat.completions.create({ model: 'gpt-test', messages, stream: true, stream_options: { include_usage: true } }),
      );
      for await (const _chunk of stream) continue;
      const settlement = await stream.meter.settled;
      assert.equal(commits, 2);
      assert.equal(settlement.outcome, 'committed');
      assert.equal(settlement.commit?.duplicate, true);
      await assertCounted(user, 'lost-answer', 1500);
    });

    await t.test('openai Responses: the answer and the streamed response.completed', async () => {
      const user = await subscriber();
      const response = await client.metered(
        { shop_id: SHOP, user_id: user, id: 'resp-1', estimate: 2000, usage: openaiUsage },
        () => openai.responses.create({ model: 'gpt-test', input: 'Hello?' }),
      );
      assert.equal(response.output_text, 'Hello there.');
      assert.deepEqual(openaiUsage.response(response), { ...RESPONSES, model: 'gpt-test' });
      assert.equal(total(RESPONSES), RESPONSES_USAGE.total_tokens);
      await assertCounted(user, 'resp-1', 1150);

      const streamer = await subscriber();
      const stream = await client.metered(
        { shop_id: SHOP, user_id: streamer, id: 'resp-stream', estimate: 2000, usage: openaiUsage },
        () => openai.responses.create({ model: 'gpt-test', input: 'Hello?', stream: true }),
      );
      const types: string[] = [];
      for await (const event of stream) types.push(event.type);
      assert.deepEqual(types.at(-1), 'response.completed');
      assert.deepEqual((await stream.meter.settled).usage, { ...RESPONSES, model: 'gpt-test' });
      await assertCounted(streamer, 'resp-stream', 1150);
    });

    await t.test('anthropic Messages: the answer with both cache kinds, retried once', async () => {
      const user = await subscriber();
      const spec = { shop_id: SHOP, user_id: user, id: 'msg-1', estimate: 4000, usage: anthropicUsage };
      const call = () => anthropic.messages.create({ model: 'claude-test', max_tokens: 1024, messages });
      const answer = await client.metered(spec, call);
      assert.equal(answer.content[0]?.type, 'text');
      assert.deepEqual(anthropicUsage.response(answer), { ...MESSAGE, model: 'claude-test' });
      assert.equal(total(MESSAGE), MESSAGE_USAGE.input_tokens + MESSAGE_USAGE.cache_creation_input_tokens + MESSAGE_USAGE.cache_read_input_tokens + MESSAGE_USAGE.output_tokens);
      await assertCounted(user, 'msg-1', 3450);
      await client.metered(spec, call);
      await assertCounted(user, 'msg-1', 3450);
    });

    await t.test('anthropic Messages streamed: message_start and message_delta, raw and through MessageStream', async () => {
      const user = await subscriber();
      const raw = await client.metered(
        { shop_id: SHOP, user_id: user, id: 'msg-stream', estimate: 4000, usage: anthropicUsage },
        () => anthropic.messages.create({ model: 'claude-test', max_tokens: 1024, messages, stream: true }),
      );
      const types: string[] = [];
      for await (const event of raw) types.push(event.type);
      assert.equal(types[0], 'message_start');
      assert.equal(types.at(-1), 'message_stop');
      assert.deepEqual((await raw.meter.settled).usage, { ...MESSAGE, model: 'claude-test' });
      await assertCounted(user, 'msg-stream', 3450);

      const helper = await subscriber();
      let messageStream: ReturnType<typeof anthropic.messages.stream> | undefined;
      const stream = await client.metered(
        { shop_id: SHOP, user_id: helper, id: 'msg-helper', estimate: 4000, usage: anthropicUsage },
        () => (messageStream = anthropic.messages.stream({ model: 'claude-test', max_tokens: 1024, messages })),
      );
      for await (const _event of stream) continue;
      assert.equal((await messageStream!.finalMessage()).usage.output_tokens, MESSAGE_USAGE.output_tokens);
      await assertCounted(helper, 'msg-helper', 3450);
    });

    await t.test('anthropic Messages streamed, stopped early: what message_start reported counts', async () => {
      const user = await subscriber();
      const stream = await client.metered(
        { shop_id: SHOP, user_id: user, id: 'msg-stopped', estimate: 4000, usage: anthropicUsage },
        () => anthropic.messages.create({ model: 'hang', max_tokens: 1024, messages, stream: true }),
      );
      for await (const event of stream) if (event.type === 'content_block_delta') break;
      const settlement = await stream.meter.settled;
      assert.equal(settlement.outcome, 'committed');
      const reported = { ...MESSAGE, output_tokens: MESSAGE_START_OUTPUT, model: 'hang' };
      assert.deepEqual(settlement.usage, reported);
      await assertCounted(user, 'msg-stopped', total(reported));
    });

    await t.test('ai generateText and streamText through an OpenAI-compatible provider', async () => {
      const user = await subscriber();
      const result = await client.metered(
        { shop_id: SHOP, user_id: user, id: 'ai-1', estimate: 2000, usage: aiSdkUsage },
        () => generateText({ model: local('gpt-test'), prompt: 'Hello?', maxRetries: 0 }),
      );
      assert.equal(result.text, 'Hello there.');
      assert.deepEqual(aiSdkUsage.response(result), { ...CHAT, model: 'gpt-test' });
      await assertCounted(user, 'ai-1', 1500);

      const streamer = await subscriber();
      const parts = await client.metered(
        { shop_id: SHOP, user_id: streamer, id: 'ai-stream', estimate: 2000, usage: aiSdkUsage },
        () => streamText({ model: local('gpt-test'), prompt: 'Hello?', maxRetries: 0 }).fullStream,
      );
      let text = '';
      for await (const part of parts) if (part.type === 'text-delta') text += part.text;
      assert.equal(text, 'Hello there.');
      assert.deepEqual((await parts.meter.settled).usage, { ...CHAT, model: 'gpt-test' });
      await assertCounted(streamer, 'ai-stream', 1500);

      // A meter settled from streamText's callbacks, the result's own streams left to the caller.
      const caller = await subscriber();
      const meter = await client.meter({ shop_id: SHOP, user_id: caller, id: 'ai-callbacks', estimate: 2000 });
      const streamed = streamText({
        model: local('gpt-test'),
        prompt: 'Hello?',
        maxRetries: 0,
        ...aiSdkCallbacks(meter),
      });
      assert.equal(await streamed.text, 'Hello there.');
      assert.deepEqual((await meter.settled).usage, { ...CHAT, model: 'gpt-test' });
      await assertCounted(caller, 'ai-callbacks', 1500);
      assert.throws(() => aiSdkUsage.response(streamText({ model: local('gpt-test'), prompt: 'Hello?' })), /fullStream/);
    });

    await t.test('ai streamText aborted before its usage: onAbort releases the hold', async () => {
      const user = await subscriber();
      const meter = await client.meter({ shop_id: SHOP, user_id: user, id: 'ai-aborted', estimate: 2000 });
      const controller = new AbortController();
      const streamed = streamText({ model: local('hang'), prompt: 'Hello?', maxRetries: 0, abortSignal: controller.signal, ...aiSdkCallbacks(meter) });
      const types: string[] = [];
      for await (const part of streamed.fullStream) {
        types.push(part.type);
        if (part.type === 'text-delta') controller.abort();
      }
      assert.equal(types.at(-1), 'abort');
      assert.equal((await meter.settled).outcome, 'released');
      await assertNothingCounted(user, 'ai-aborted');
    });

    await t.test('usage recorded without a hold keeps the counts the server takes today', async () => {
      const user = await subscriber();
      const completion = await openai.chat.completions.create({ model: 'gpt-test', messages });
      const usage = openaiUsage.response(completion)!;
      const input = usageInput({ event_id: 'plain-1', shop_id: SHOP, user_id: user }, usage);
      assert.equal((await client.usage.record(input)).tokens, 1500);
      assert.equal((await client.usage.record(input)).duplicate, true);
      const event = await client.usage.get('plain-1', { shop_id: SHOP });
      assert.deepEqual([event.input_tokens, event.output_tokens, event.model], [1200, 300, 'gpt-test']);
      await assertCounted(user, 'plain-1', 1500);
    });

    await t.test('a call that would not fit is refused before it runs', async () => {
      const user = await subscriber();
      await client.usage.record({ event_id: 'most', shop_id: SHOP, user_id: user, tokens: ALLOWANCE - 1000 });
      const before = llm.requests.get('/v1/chat/completions');
      const refused = await client
        .metered({ shop_id: SHOP, user_id: user, id: 'too-big', estimate: 2000, usage: openaiUsage }, () =>
          openai.chat.completions.create({ model: 'gpt-test', messages }))
        .then(() => assert.fail('expected quota_exceeded'), (error: unknown) => error);
      assert.ok(refused instanceof AllotApiError);
      assert.equal(refused.code, 'quota_exceeded');
      assert.equal(refused.retryAfter, 28 * 86_400);
      assert.equal(llm.requests.get('/v1/chat/completions'), before);
      assert.equal((await client.subscriptions.get(SHOP, user)).reserved_tokens, 0);

      await assert.rejects(
        client.metered({ shop_id: SHOP, user_id: user, id: 'not an id', estimate: 10, usage: openaiUsage }, () =>
          openai.chat.completions.create({ model: 'gpt-test', messages })),
        /must be 1–128 characters/,
      );
      assert.equal(llm.requests.get('/v1/chat/completions'), before);
    });
  });
}
