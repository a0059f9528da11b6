/**
 * `allot models` as a real child process on a SQLite file: set (exact
 * decimals, the same refusals as the API), list, delete; `allot verify`
 * then checks the charges made with those weights.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seedPlans, startAllot } from '../support/harness.ts';
import { dbEnv, runAllot } from '../support/process.ts';

test('sqlite: cli — models set, list, delete', async (t) => {
  const server = await startAllot('sqlite');
  t.after(server.close);
  const env = dbEnv(server.testDb.config);
  const allot = async (...args: string[]) => runAllot(args, env);

  const [set, star, bad, empty] = await Promise.all([
    allot('models', 'set', 'openai/gpt-4o', '--input', '2.5', '--output', '10', '--cached', '0.25', '--json'),
    allot('models', 'set', '*', '--input', '1', '--output', '4'),
    allot('models', 'set', 'm', '--input', '-1', '--output', '0.0000001'),
    allot('models', 'set', '', '--input', '1', '--output', '1'),
  ]);
  assert.equal(set.code, 0, set.stderr);
  assert.deepEqual(JSON.parse(set.stdout), {
    model: 'openai/gpt-4o', input_weight: 2.5, cached_input_weight: 0.25, output_weight: 10, effective_from: JSON.parse(set.stdout).effective_from, history: [],
  });
  assert.equal(star.code, 0, star.stderr);
  assert.match(star.stdout, /^set \*: input 1, cached input 1, output 4 from /);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /input_weight \(--input\): must be at least 0/);
  assert.match(bad.stderr, /output_weight \(--output\): must have at most 6 decimals/);
  assert.equal(empty.code, 1);
  assert.match(empty.stderr, /model \(<model>\): must not be empty/);

  const list = await allot('models', 'list');
  assert.equal(list.code, 0, list.stderr);
  const lines = list.stdout.trim().split('\n');
  assert.match(lines[0]!, /^model\s+input_weight\s+cached_input_weight\s+output_weight\s+effective_from\s+history$/);
  assert.deepEqual(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 4)), [['*', '1', '1', '4'], ['openai/gpt-4o', '2.5', '0.25', '10']]);

  // Usage through the API is charged with the weights the CLI set; verify recomputes each charge.
  await seedPlans(server, ['basic']);
  assert.equal((await server.api('PUT', '/v1/subscriptions/s/u', { plan_id: 'basic' })).status, 201);
  const used = await server.api('POST', '/v1/usage', { event_id: 'e', shop_id: 's', user_id: 'u', input_tokens: 3, cached_input_tokens: 1, output_tokens: 1, model: 'openai/gpt-4o' });
  assert.equal(used.body.tokens, 18); // 7.5 + 0.25 + 10 = 17.75 → 18
  const [verified, deleted, missing, status] = await Promise.all([
    allot('verify'), allot('models', 'delete', '*'), allot('models', 'delete', 'nope'), allot('subs', 'show', 's', 'u', '--status'),
  ]);
  assert.ok(status.stdout.split('\n').includes('by model   openai/gpt-4o: 18 tokens in 1 event(s) (input 3, cached 1, output 1)'), status.stdout);
  assert.equal(verified.code, 0, verified.stdout);
  assert.equal(deleted.stdout, 'deleted the rate of *\n');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /model_not_found/);
  const left = await allot('models', 'list', '--json');
  assert.deepEqual(JSON.parse(left.stdout).map((r: { model: string }) => r.model), ['openai/gpt-4o']);
});
