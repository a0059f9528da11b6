import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { importSeedExport } from '../../src/import/run.ts';
import { verifyDatabase, type Invariant } from '../../src/service/verify.ts';
import { DIALECTS } from '../support/dialects.ts';
import { seedPlans, startAllot, type Allot } from '../support/harness.ts';
import { assertCliVerifies, assertVerified } from '../robustness/support.ts';
import { dbEnv, runAllot } from '../support/process.ts';

async function ok(allot: Allot, method: string, path: string, body?: unknown): Promise<any> {
  const res = await allot.api(method, path, body);
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Every kind of write the ledger knows: usage, holds, plan changes, cancels, rollovers. */
async function scenario(allot: Allot): Promise<void> {
  await seedPlans(allot, ['basic', 'pro', 'enterprise', 'proYearly']);
  await ok(allot, 'PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'basic' });
  await ok(allot, 'PUT', '/v1/subscriptions/shop1/u2', { plan_id: 'pro' });
  await ok(allot, 'PUT', '/v1/subscriptions/shop1/u3', { plan_id: 'basic' });
  await ok(allot, 'PUT', '/v1/subscriptions/shop2/u1', { plan_id: 'basic' });
  await ok(allot, 'POST', '/v1/usage', { event_id: 'e1', shop_id: 'shop1', user_id: 'u1', tokens: 1000 });
  await ok(allot, 'POST', '/v1/usage', { event_id: 'e2', shop_id: 'shop1', user_id: 'u1', input_tokens: 300, output_tokens: 200, enforce: true });
  await ok(allot, 'POST', '/v1/usage', { event_id: 'e1', shop_id: 'shop2', user_id: 'u1', tokens: 70 });
  await ok(allot, 'POST', '/v1/usage', { event_id: 'e3', shop_id: 'shop1', user_id: 'u3', tokens: 40 });
  await ok(allot, 'PUT', '/v1/models/vendor%2Fm', { input_weight: '1.5', cached_input_weight: '0.15', output_weight: 6 });
  await ok(allot, 'POST', '/v1/usage', { event_id: 'w1', shop_id: 'shop1', user_id: 'u1', input_tokens: 11, cached_input_tokens: 7, output_tokens: 3, model: 'vendor/m' });
  await ok(allot, 'POST', '/v1/reservations', { reservation_id: 'r1', shop_id: 'shop1', user_id: 'u1', tokens: 2000 });
  await ok(allot, 'POST', '/v1/reservations/r1/commit', { tokens: 2500, shop_id: 'shop1' });
  await ok(allot, 'POST', '/v1/reservations', { reservation_id: 'r2', shop_id: 'shop1', user_id: 'u1', tokens: 900 });
  await ok(allot, 'POST', '/v1/reservations/r2/release', { shop_id: 'shop1' });
  await ok(allot, 'POST', '/v1/reservations', { reservation_id: 'r3', shop_id: 'shop1', user_id: 'u2', tokens: 500, ttl_seconds: 60 });
  await ok(allot, 'PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'pro' });
  await ok(allot, 'PUT', '/v1/subscriptions/shop1/u2', { plan_id: 'pro-yearly', when: 'period_end' });
  await ok(allot, 'POST', '/v1/subscriptions/shop1/u3/cancel', { at_period_end: false });
  await ok(allot, 'POST', '/v1/subscriptions/shop2/u1/cancel', {});
  await allot.setClock('2026-02-10T08:00:00.000Z');
  await ok(allot, 'POST', '/v1/usage', { event_id: 'e4', shop_id: 'shop1', user_id: 'u1', tokens: 5 });
  await allot.setClock('2026-04-02T00:00:00.000Z');
  await ok(allot, 'POST', '/v1/renewals/run');
  await ok(allot, 'POST', '/v1/usage', { event_id: 'e5', shop_id: 'shop1', user_id: 'u1', tokens: 11 });
  await ok(allot, 'POST', '/v1/reservations', { reservation_id: 'r4', shop_id: 'shop1', user_id: 'u1', tokens: 123 });
  const keyed = await allot.api('POST', '/v1/reservations', { shop_id: 'shop1', user_id: 'u1', tokens: 7 }, { headers: { 'idempotency-key': 'hold-1' } });
  assert.equal(keyed.status, 201, JSON.stringify(keyed.body));
}

for (const dialect of DIALECTS) {
  test(`${dialect}: verify passes on a ledger written through the API, and reports each broken invariant`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-01-31T12:00:00.000Z' });
    t.after(allot.close);
    await scenario(allot);
    const { db, config } = allot.testDb;

    const clean = await assertVerified(db);
    assert.ok(clean.checked.period_summaries >= 4, JSON.stringify(clean.checked));
    assert.ok(clean.checked.usage_events >= 6);
    await assertCliVerifies(config);

    const u1 = await db.one<{ id: string }>(`SELECT id FROM subscriptions WHERE shop_id = 'shop1' AND user_id = 'u1'`);
    const reported = async (): Promise<Set<Invariant>> => new Set((await verifyDatabase(db)).violations.map((v) => v.invariant));
    const corruptions: Array<[Invariant, () => Promise<unknown>]> = [
      ['usage_matches_events', () => db.run('UPDATE subscriptions SET used_tokens = used_tokens + 1 WHERE id = ?', [u1!.id])],
      ['rollups_match_events', () => db.run(`UPDATE daily_usage SET queries = queries + 1 WHERE subscription_id = ?`, [u1!.id])],
      ['summaries_match_events', () => db.run('UPDATE period_summaries SET used_tokens = used_tokens + 7 WHERE subscription_id = ?', [u1!.id])],
      ['holds_match_reservations', () => db.run('UPDATE subscriptions SET reserved_tokens = reserved_tokens + 3 WHERE id = ?', [u1!.id])],
      ['commits_match_events', () => db.run(`UPDATE reservations SET committed_tokens = committed_tokens + 1 WHERE id = 'r1'`)],
      // What a crash between a key's work and its answer left behind before they committed together.
      ['idempotency_keys_answered', () => db.run(`UPDATE idempotency_keys SET state = 'in_flight', status_code = NULL, response = NULL WHERE key = 'hold-1'`)],
      ['counters_not_negative', () => db.run(`UPDATE subscriptions SET queries = -1 WHERE shop_id = 'shop1' AND user_id = 'u3'`)],
      // A charge that disagrees with its own counts and weights, the rollups and counters kept in step with it.
      ['charges_match_weights', () => db.run(`UPDATE usage_events SET output_weight = output_weight + 1000000 WHERE event_id = 'w1'`)],
      ['model_rollups_match_events', () => db.run(`UPDATE daily_model_usage SET cached_input_tokens = cached_input_tokens + 1 WHERE model = 'vendor/m'`)],
      ['events_belong_to_a_period', () => db.run(
        `INSERT INTO usage_events (shop_id, event_id, subscription_id, user_id, tokens, enforce, period_start, day, created_at, request_hash, result)
         VALUES ('shop2', 'stray', ?, 'u1', 1, 0, 12345, '2026-01-01', 0, 'x', '{}')`, [u1!.id])],
      ['one_live_subscription', async () => {
        await db.run('DROP INDEX subscriptions_one_live');
        const row = (await db.one<Record<string, unknown>>('SELECT * FROM subscriptions WHERE id = ?', [u1!.id]))!;
        const columns = Object.keys(row);
        await db.run(`INSERT INTO subscriptions (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
          columns.map((c) => (c === 'id' ? 'sub_duplicate' : row[c])));
      }],
    ];
    for (const [invariant, corrupt] of corruptions) {
      assert.ok(!(await reported()).has(invariant), `${invariant} reported before it was broken`);
      await corrupt();
      assert.ok((await reported()).has(invariant), `${invariant} not reported after breaking it`);
    }

    const cli = await runAllot(['verify', '--json'], dbEnv(config));
    assert.equal(cli.code, 1, cli.stderr);
    const report = JSON.parse(cli.stdout);
    assert.equal(report.ok, false);
    assert.deepEqual(new Set(report.violations.map((v: { invariant: string }) => v.invariant)), new Set(corruptions.map(([i]) => i)));
    if (dialect === 'sqlite') {
      const text = await runAllot(['verify'], dbEnv(config));
      assert.equal(text.code, 1);
      assert.match(text.stdout, /BROKEN one_live_subscription shop1\/u1: 2 live subscriptions/);
    }
  });
}

test('verify on an empty database: exit 0 and says all invariants hold', async (t) => {
  const allot = await startAllot('sqlite');
  t.after(allot.close);
  const result = await runAllot(['verify'], dbEnv(allot.testDb.config));
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /checked 0 subscriptions, 0 usage events/);
  assert.match(result.stdout, /ok: all 11 invariants hold/);
  const fresh = `${allot.testDb.config.sqlitePath}.fresh`;
  writeFileSync(fresh, ''); // an empty file is an empty SQLite database
  const unmigrated = await runAllot(['verify'], dbEnv({ dialect: 'sqlite', sqlitePath: fresh }));
  assert.equal(unmigrated.code, 1);
  assert.match(unmigrated.stderr, /is the database migrated\? Run `allot migrate` first/);
});

for (const dialect of DIALECTS) {
  test(`${dialect}: an imported period starts with counters but no events; verify allows for it and still checks what follows`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-03-10T12:00:00.000Z' });
    t.after(allot.close);
    const fixtures = new URL('../fixtures/seed-export/', import.meta.url);
    await importSeedExport(allot.services, {
      subscriptions: readFileSync(new URL('subscriptions.json', fixtures), 'utf8'),
      tokenUsage: readFileSync(new URL('token_usage.ndjson', fixtures), 'utf8'),
    });
    const { db } = allot.testDb;
    const imported = await db.all<{ id: string; shop_id: string; user_id: string; used_tokens: number }>(
      `SELECT id, shop_id, user_id, used_tokens FROM subscriptions WHERE status = 'active' AND used_tokens > 0 AND imported_period_start = current_period_start ORDER BY id`,
    );
    assert.ok(imported.length >= 2, 'the sample export has active subscriptions with usage');
    await assertVerified(db);

    const [first, second] = imported as [typeof imported[number], typeof imported[number]];
    await ok(allot, 'POST', '/v1/usage', { event_id: 'after-import', shop_id: first.shop_id, user_id: first.user_id, tokens: 25 });
    await ok(allot, 'POST', '/v1/reservations', { shop_id: second.shop_id, user_id: second.user_id, tokens: 5 });
    await assertVerified(db);
    await allot.setClock('2026-06-01T00:00:00.000Z');
    await ok(allot, 'POST', '/v1/renewals/run');
    await ok(allot, 'POST', '/v1/usage', { event_id: 'next-period', shop_id: first.shop_id, user_id: first.user_id, tokens: 7 });
    await assertVerified(db);

    // The imported period's summary must still cover its events; later periods must match them exactly.
    await db.run(`UPDATE period_summaries SET used_tokens = 24 WHERE subscription_id = ? AND period_start = (SELECT imported_period_start FROM subscriptions WHERE id = ?)`, [first.id, first.id]);
    await db.run('UPDATE subscriptions SET used_tokens = used_tokens + 1 WHERE id = ?', [first.id]);
    const report = await verifyDatabase(db);
    assert.deepEqual(report.violations.map((v) => [v.invariant, v.subject]).sort(), [
      ['summaries_match_events', first.id],
      ['usage_matches_events', first.id],
    ]);
  });
}

for (const dialect of DIALECTS) {
  test(`${dialect}: a hold committed after its subscription was canceled counts in the closed period's summary`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-03-01T00:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot, ['basic']);
    for (const user of ['now', 'later']) {
      await ok(allot, 'PUT', `/v1/subscriptions/s/${user}`, { plan_id: 'basic' });
      await ok(allot, 'POST', '/v1/usage', { event_id: `before-${user}`, shop_id: 's', user_id: user, tokens: 10 });
      await ok(allot, 'POST', '/v1/reservations', { reservation_id: `h-${user}`, shop_id: 's', user_id: user, tokens: 50, ttl_seconds: 1 });
    }
    await allot.setClock('2026-03-01T00:00:05.000Z');
    for (const user of ['now', 'later']) assert.equal((await ok(allot, 'GET', `/v1/reservations/h-${user}?shop_id=s`)).status, 'expired');
    await ok(allot, 'POST', '/v1/subscriptions/s/now/cancel', { at_period_end: false });
    await ok(allot, 'POST', '/v1/subscriptions/s/later/cancel', { at_period_end: true });
    await allot.setClock('2026-04-05T00:00:00.000Z');
    await ok(allot, 'POST', '/v1/renewals/run');
    for (const user of ['now', 'later']) {
      const commit = await ok(allot, 'POST', `/v1/reservations/h-${user}/commit`, { tokens: 40, shop_id: 's' });
      assert.equal(commit.reservation_expired, true);
      const periods = await ok(allot, 'GET', `/v1/subscriptions/s/${user}/periods`);
      assert.equal(periods.data.length, 1);
      assert.equal(periods.data[0].used_tokens, 50, `${user}: the late commit is in the summary`);
      assert.equal(periods.data[0].queries, 2);
      assert.equal(periods.data[0].peak_daily_tokens, 40, 'the late commit landed on a day of its own');
    }
    await assertVerified(allot.testDb.db);
  });
}

test('verify of a database that is not there: exit 1, and nothing is created', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'allot-verify-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const missing = join(dir, 'typo', 'allot.db');
  const result = await runAllot(['verify'], dbEnv({ dialect: 'sqlite', sqlitePath: missing }));
  assert.equal(result.code, 1);
  assert.match(result.stderr, /no database at .*typo\/allot\.db/);
  assert.deepEqual(await readdir(dir), [], 'no directory or file was made');
});
