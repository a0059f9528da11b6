/**
 * The packed `@allot/client`, as a user gets it: `npm pack` builds and packs
 * it, the tarball installs into an empty folder (no registry needed), a sample
 * app type-checks with `tsc --strict` and no Node types, and run against a
 * real allot it records each call's usage once, retries included.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { AllotClient } from '../../packages/client/src/index.ts';
import { DIALECTS } from '../support/dialects.ts';
import { MASTER_KEY, startAllot } from '../support/harness.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGE = join(ROOT, 'packages/client');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let app: string;
let packed: string[];

before(async () => {
  app = await mkdtemp(join(tmpdir(), 'allot-client-app-'));
  const { stdout } = await run(NPM, ['pack', '--json', '--pack-destination', app], { cwd: PACKAGE });
  const [tarball] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packed = tarball!.files.map((file) => file.path).sort();
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'sample-app', private: true, type: 'module' }));
  await run(NPM, ['install', '--offline', '--no-audit', '--no-fund', `./${tarball!.filename}`], { cwd: app });
  await writeFile(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022', 'DOM'], types: [], outDir: 'out',
      skipLibCheck: false,
    },
    include: ['app.ts'],
  }));
  await writeFile(join(app, 'app.ts'), SAMPLE_APP);
  await run(process.execPath, [TSC, '-p', app]);
});

after(async () => {
  if (app) await rm(app, { recursive: true, force: true });
});

test('the tarball holds the built ESM and its types, and no Node-only code', async () => {
  assert.deepEqual(packed.filter((path) => !path.startsWith('dist/')), ['README.md', 'package.json']);
  for (const module of ['index', 'client', 'errors', 'meter', 'usage', 'types.generated']) {
    assert.ok(packed.includes(`dist/${module}.js`) && packed.includes(`dist/${module}.d.ts`), module);
  }
  const installed = join(app, 'node_modules/@allot/client');
  const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(manifest.type, 'module');
  assert.equal(manifest.dependencies, undefined);
  for (const file of await readdir(join(installed, 'dist'))) {
    const code = await readFile(join(installed, 'dist', file), 'utf8');
    assert.doesNotMatch(code, /['"]node:|\brequire\(|\bprocess\.(env|argv|exit|on|nextTick|stdout|stderr|cwd)\b|\bBuffer\.|\bsetImmediate\(/, file);
  }
});

for (const dialect of DIALECTS) {
  test(`${dialect}: a sample app made from the tarball type-checks strictly and counts each call once`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-01-31T12:00:00.000Z' });
    t.after(allot.close);
    const client = new AllotClient({ baseUrl: allot.url, apiKey: MASTER_KEY });
    await client.plans.create({
      id: 'llm', display_name: 'LLM', allocated_tokens: 100_000, price_minor: 100, currency: 'USD', billing_cycle: 'monthly', tier: 1,
    });
    await client.subscriptions.put('acme', 'alice', { plan_id: 'llm' });

    const sample = (await import(pathToFileURL(join(app, 'out/app.js')).href)) as {
      main(options: { baseUrl: string; apiKey: string }): Promise<{ outcomes: string[]; refused: { code: string; retryAfter: number | null } }>;
    };
    const report = await sample.main({ baseUrl: allot.url, apiKey: MASTER_KEY });

    assert.deepEqual(report.outcomes, ['committed', 'committed', 'committed', 'duplicate', 'duplicate', 'duplicate']);
    const events = (await client.usage.list({ shop_id: 'acme', user_id: 'alice' })).data;
    assert.deepEqual(
      events.map((event) => [event.event_id, event.tokens]).sort(),
      [['anthropic-1', 350], ['anthropic-stream-1', 350], ['openai-1', 150], ['openai-stream-1', 150]],
    );
    const sub = await client.subscriptions.get('acme', 'alice');
    assert.equal(sub.used_tokens, 1000);
    assert.equal(sub.reserved_tokens, 0);
    assert.deepEqual(report.refused, { code: 'quota_exceeded', retryAfter: 28 * 86_400 });
  });
}

/** Answers shaped as the SDKs' are: the app needs nothing but the package. */
const SAMPLE_APP = `
import {
  AllotApiError, AllotClient, anthropicUsage, openaiUsage, type AllotClientOptions, type Settlement, type TokenUsage,
} from '@allot/client';

const who = { shop_id: 'acme', user_id: 'alice' };
const completion = {
  id: 'chatcmpl-1', object: 'chat.completion', model: 'gpt-x', choices: [{ message: { content: 'Hi.' } }],
  usage: { prompt_tokens: 120, completion_tokens: 30, total_tokens: 150, prompt_tokens_details: { cached_tokens: 20 } },
};
async function* completionChunks() {
  yield { object: 'chat.completion.chunk', model: 'gpt-x', choices: [{ delta: { content: 'Hi.' } }], usage: null };
  yield { object: 'chat.completion.chunk', model: 'gpt-x', choices: [], usage: completion.usage };
}
const message = {
  type: 'message', model: 'claude-x', content: [{ type: 'text', text: 'Hi.' }],
  usage: { input_tokens: 10, cache_creation_input_tokens: 100, cache_read_input_tokens: 200, output_tokens: 40 },
};
async function* messageEvents() {
  yield { type: 'message_start', message: { ...message, content: [], usage: { ...message.usage, output_tokens: 1 } } };
  yield { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi.' } };
  yield { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 40 } };
  yield { type: 'message_stop' };
}

export interface Report {
  outcomes: string[];
  refused: { code: string; retryAfter: number | null } | null;
}

export async function main(options: AllotClientOptions): Promise<Report> {
  const allot = new AllotClient(options);
  const outcomes: string[] = [];
  // Every call twice with the same id, as a retried request would: each counts once.
  for (let attempt = 0; attempt < 2; attempt++) {
    const answer: typeof completion = await allot.metered({ ...who, id: 'openai-1', estimate: 500, usage: openaiUsage }, async () => completion);
    const counted: TokenUsage | undefined = openaiUsage.response(answer);
    if (counted?.input_tokens !== 100 || counted.cached_input_tokens !== 20 || counted.output_tokens !== 30) throw new Error('openai usage');

    const chunks = await allot.metered({ ...who, id: 'openai-stream-1', estimate: 500, usage: openaiUsage }, completionChunks);
    for await (const chunk of chunks) void chunk.choices;
    const streamed: Settlement = await chunks.meter.settled;
    outcomes.push(streamed.outcome);

    const held = await allot.meter({ ...who, id: 'anthropic-1', estimate: 500 });
    outcomes.push((await held.commit(anthropicUsage.response(message))).outcome);

    const events = await allot.metered({ ...who, id: 'anthropic-stream-1', estimate: 500, usage: anthropicUsage }, messageEvents);
    for await (const event of events) void event.type;
    outcomes.push((await events.meter.settled).outcome);
  }

  let refused: Report['refused'] = null;
  try {
    await allot.metered({ ...who, id: 'too-big', estimate: 99_500, usage: openaiUsage }, async () => completion);
  } catch (error) {
    if (!(error instanceof AllotApiError && error.code === 'quota_exceeded')) throw error;
    refused = { code: error.code, retryAfter: error.retryAfter };
  }
  return { outcomes, refused };
}

// Compile-time checks only.
export function typeChecks(allot: AllotClient): void {
  // @ts-expect-error the estimate is a number of tokens
  void allot.meter({ ...who, id: 'typed', estimate: '500' });
  // @ts-expect-error a usage mapper is required to read the answer
  void allot.metered({ ...who, id: 'typed', estimate: 500 }, async () => completion);
  // @ts-expect-error plans take a billing cycle the server knows
  void allot.plans.create({ id: 'p', display_name: 'P', allocated_tokens: 1, price_minor: 1, currency: 'USD', billing_cycle: 'weekly', tier: 1 });
}
`;
