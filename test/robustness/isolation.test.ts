import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { buildServer, allRoutes } from '../../src/http/server.ts';
import type { AllotError } from '../../src/domain/errors.ts';
import { Keyring, revokeApiKey } from '../../src/service/api-keys.ts';
import { Scope } from '../../src/service/scope.ts';
import { insertApiKey, isKeyLive, revokeApiKeyRow } from '../../src/store/api-keys.ts';
import type { SqliteDb } from '../../src/store/sqlite/db.ts';
import { sha256 } from '../../src/service/hash.ts';
import { DIALECTS } from '../support/dialects.ts';
import { createShopKey, MASTER_KEY, seedPlans, startAllot, type Allot } from '../support/harness.ts';
import { assertVerified, fingerprint } from './support.ts';

interface Probe {
  method: string;
  path: string;
  body?: unknown;
  /** The status a shop key of another shop must get. */
  status: number;
  code?: string;
}

/** What shop B's key sends at shop A's data, one or more probes per route of the API. */
function probesFor(aKeyId: string): Record<string, Probe[]> {
  const nf = (method: string, path: string, body?: unknown, code = 'subscription_not_found'): Probe => ({ method, path, body, status: 404, code });
  const forbidden = (method: string, path: string, body?: unknown): Probe => ({ method, path, body, status: 403, code: 'forbidden' });
  return {
    'POST /v1/plans': [forbidden('POST', '/v1/plans', { id: 'evil', display_name: 'Evil', allocated_tokens: 1, price_minor: 0, currency: 'USD', billing_cycle: 'monthly', tier: 9 })],
    'GET /v1/plans': [{ method: 'GET', path: '/v1/plans', status: 200 }],
    'GET /v1/plans/{id}': [{ method: 'GET', path: '/v1/plans/basic', status: 200 }],
    'POST /v1/plans/{id}/archive': [forbidden('POST', '/v1/plans/basic/archive')],
    'PUT /v1/subscriptions/{shop_id}/{user_id}': [
      nf('PUT', '/v1/subscriptions/shopA/u1', { plan_id: 'pro' }, 'not_found'),
      nf('PUT', '/v1/subscriptions/shopA/newuser', { plan_id: 'basic' }, 'not_found'),
    ],
    'GET /v1/subscriptions/{shop_id}/{user_id}': [nf('GET', '/v1/subscriptions/shopA/u1')],
    'GET /v1/subscriptions': [nf('GET', '/v1/subscriptions?shop_id=shopA', undefined, 'not_found'), { method: 'GET', path: '/v1/subscriptions', status: 200 }],
    'POST /v1/subscriptions/{shop_id}/{user_id}/cancel': [nf('POST', '/v1/subscriptions/shopA/u1/cancel', { at_period_end: false })],
    'POST /v1/subscriptions/{shop_id}/{user_id}/suspend': [nf('POST', '/v1/subscriptions/shopA/u1/suspend')],
    'POST /v1/subscriptions/{shop_id}/{user_id}/resume': [nf('POST', '/v1/subscriptions/shopA/u2/resume')],
    'GET /v1/subscriptions/{shop_id}/{user_id}/periods': [nf('GET', '/v1/subscriptions/shopA/u1/periods')],
    'GET /v1/subscriptions/{shop_id}/{user_id}/status': [nf('GET', '/v1/subscriptions/shopA/u1/status?include_history=true')],
    'GET /v1/subscriptions/{shop_id}/{user_id}/usage/daily': [nf('GET', '/v1/subscriptions/shopA/u1/usage/daily')],
    'POST /v1/usage': [nf('POST', '/v1/usage', { event_id: 'probe', shop_id: 'shopA', user_id: 'u1', tokens: 1 })],
    'GET /v1/usage': [nf('GET', '/v1/usage?shop_id=shopA', undefined, 'not_found'), { method: 'GET', path: '/v1/usage?limit=100', status: 200 }],
    'GET /v1/usage/{event_id}': [nf('GET', '/v1/usage/a-only?shop_id=shopA', undefined, 'not_found'), nf('GET', '/v1/usage/a-only', undefined, 'not_found')],
    'POST /v1/check': [{ method: 'POST', path: '/v1/check', body: { shop_id: 'shopA', user_id: 'u1', tokens: 1 }, status: 200 }],
    'POST /v1/reservations': [nf('POST', '/v1/reservations', { shop_id: 'shopA', user_id: 'u1', tokens: 1 })],
    'GET /v1/reservations/{id}': [
      nf('GET', '/v1/reservations/rA', undefined, 'reservation_not_found'),
      nf('GET', '/v1/reservations/rA?shop_id=shopA', undefined, 'reservation_not_found'),
    ],
    'POST /v1/reservations/{id}/commit': [
      nf('POST', '/v1/reservations/rA/commit', { tokens: 1 }, 'reservation_not_found'),
      nf('POST', '/v1/reservations/rA/commit', { tokens: 1, shop_id: 'shopA' }, 'reservation_not_found'),
      nf('POST', '/v1/reservations/rA/commit?shop_id=shopA', { tokens: 1 }, 'reservation_not_found'),
    ],
    'POST /v1/reservations/{id}/release': [
      nf('POST', '/v1/reservations/rA/release', {}, 'reservation_not_found'),
      nf('POST', '/v1/reservations/rA/release', { shop_id: 'shopA' }, 'reservation_not_found'),
    ],
    'POST /v1/api-keys': [forbidden('POST', '/v1/api-keys', { name: 'escalate', role: 'admin' }), forbidden('POST', '/v1/api-keys', { name: 'x', role: 'shop', shop_id: 'shopA' })],
    'GET /v1/api-keys': [forbidden('GET', '/v1/api-keys')],
    'DELETE /v1/api-keys/{id}': [forbidden('DELETE', `/v1/api-keys/${aKeyId}`)],
    'POST /v1/renewals/run': [forbidden('POST', '/v1/renewals/run')],
    'PUT /v1/test-clock': [forbidden('PUT', '/v1/test-clock', { now: '2030-01-01T00:00:00.000Z' })],
    'GET /v1/test-clock': [{ method: 'GET', path: '/v1/test-clock', status: 200 }],
    'GET /v1/shops/{shop_id}/overview': [nf('GET', '/v1/shops/shopA/overview', undefined, 'not_found')],
    // Rates belong to no shop: any key reads them, only an admin changes them.
    'PUT /v1/models/{model}': [forbidden('PUT', '/v1/models/m', { input_weight: 0, output_weight: 0 }), forbidden('PUT', '/v1/models/*', { input_weight: 0, output_weight: 0 })],
    'DELETE /v1/models/{model}': [forbidden('DELETE', '/v1/models/m')],
    'GET /v1/models': [{ method: 'GET', path: '/v1/models', status: 200 }],
    'GET /v1/models/{model}': [{ method: 'GET', path: '/v1/models/nope', status: 404, code: 'model_not_found' }],
    'GET /v1/subscriptions/{shop_id}/{user_id}/usage/by-model': [nf('GET', '/v1/subscriptions/shopA/u1/usage/by-model')],
  };
}

async function must(allot: Allot, method: string, path: string, body?: unknown, key?: string): Promise<any> {
  const res = await allot.api(method, path, body, { key });
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

for (const dialect of DIALECTS) {
  test(`${dialect}: a shop key cannot read, change, list, reserve, commit or probe another shop's data on any endpoint`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-03-01T00:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot);
    const keyA = await createShopKey(allot, 'shopA');
    const keyB = await createShopKey(allot, 'shopB');
    const keyAId = (await must(allot, 'GET', '/v1/api-keys')).data.find((k: { shop_id: string }) => k.shop_id === 'shopA').id;
    const subA = await must(allot, 'PUT', '/v1/subscriptions/shopA/u1', { plan_id: 'basic' }, keyA);
    await must(allot, 'PUT', '/v1/subscriptions/shopA/u2', { plan_id: 'basic' }, keyA);
    await must(allot, 'POST', '/v1/subscriptions/shopA/u2/suspend', undefined, keyA);
    await must(allot, 'POST', '/v1/usage', { event_id: 'a-only', shop_id: 'shopA', user_id: 'u1', tokens: 700 }, keyA);
    await must(allot, 'POST', '/v1/usage', { event_id: 'shared', shop_id: 'shopA', user_id: 'u1', tokens: 10 }, keyA);
    await must(allot, 'POST', '/v1/reservations', { reservation_id: 'rA', shop_id: 'shopA', user_id: 'u1', tokens: 100 }, keyA);
    await must(allot, 'PUT', '/v1/subscriptions/shopB/u1', { plan_id: 'basic' }, keyB);

    const probes = probesFor(keyAId);
    const declared = allRoutes.map((r) => `${r.method} ${r.path}`).sort();
    assert.deepEqual(Object.keys(probes).sort(), declared, 'every route of the API has an isolation probe');

    const before = await fingerprint(allot.testDb.db);
    for (const [route, list] of Object.entries(probes)) {
      for (const probe of list) {
        const res = await allot.api(probe.method, probe.path, probe.body, { key: keyB });
        const where = `${route}: ${probe.method} ${probe.path} → ${res.status} ${JSON.stringify(res.body)}`;
        assert.equal(res.status, probe.status, where);
        if (probe.code) assert.equal(res.body.code, probe.code, where);
        const text = JSON.stringify(res.body);
        assert.ok(!text.includes(subA.id), `${where} leaks shop A's subscription id`);
        assert.ok(!text.includes('"shopA"') || probe.status !== 200, `${where} lists shop A's data`);
      }
    }
    assert.deepEqual(await fingerprint(allot.testDb.db), before, 'a probe from another shop changed the database');

    // /v1/check answers the same for shop A's real user as for a user nobody has.
    const real = await allot.api('POST', '/v1/check', { shop_id: 'shopA', user_id: 'u1', tokens: 1 }, { key: keyB });
    const ghost = await allot.api('POST', '/v1/check', { shop_id: 'shopA', user_id: 'ghost', tokens: 1 }, { key: keyB });
    assert.deepEqual(real.body, ghost.body);
    assert.deepEqual(real.body, { allowed: false, remaining_tokens: 0, reason: 'subscription_not_found' });

    // Event ids, reservation ids and Idempotency-Keys live in each shop's own namespace: no 409 reveals shop A's.
    const ownEvent = await allot.api('POST', '/v1/usage', { event_id: 'shared', shop_id: 'shopB', user_id: 'u1', tokens: 99 }, { key: keyB });
    assert.equal(ownEvent.status, 200, JSON.stringify(ownEvent.body));
    assert.equal(ownEvent.body.duplicate, false);
    assert.equal(ownEvent.body.used_tokens, 99);
    const ownHold = await allot.api('POST', '/v1/reservations', { reservation_id: 'rA', shop_id: 'shopB', user_id: 'u1', tokens: 5 }, { key: keyB });
    assert.equal(ownHold.status, 201, JSON.stringify(ownHold.body));
    assert.equal(ownHold.body.shop_id, 'shopB');
    // Shop A used these Idempotency-Keys; shop B reuses them with A's very body and with its own.
    const cases = [
      { key: 'idem-same-body', aBody: { event_id: 'ia', shop_id: 'shopA', user_id: 'u1', tokens: 3 }, bBody: { event_id: 'ia', shop_id: 'shopA', user_id: 'u1', tokens: 3 }, bStatus: 404 },
      { key: 'idem-own-body', aBody: { event_id: 'ib', shop_id: 'shopA', user_id: 'u1', tokens: 0 }, bBody: { event_id: 'ib', shop_id: 'shopB', user_id: 'u1', tokens: 4 }, bStatus: 200 },
    ];
    for (const c of cases) {
      const first = await allot.api('POST', '/v1/usage', c.aBody, { key: keyA, headers: { 'idempotency-key': c.key } });
      assert.equal(first.status, 200);
      const res = await allot.api('POST', '/v1/usage', c.bBody, { key: keyB, headers: { 'idempotency-key': c.key } });
      assert.equal(res.status, c.bStatus, JSON.stringify(res.body));
      assert.equal(res.headers.get('idempotent-replayed'), null, "shop B got shop A's stored answer");
      const stored = await allot.testDb.db.all<{ scope: string }>('SELECT scope FROM idempotency_keys WHERE key = ? ORDER BY scope', [c.key]);
      assert.deepEqual(stored.map((r) => r.scope), ['shop:shopA', 'shop:shopB']);
    }
    const a = await allot.api('GET', '/v1/subscriptions/shopA/u1', undefined, { key: keyA });
    assert.equal(a.body.used_tokens, 713, 'shop A counts only its own events');
    assert.equal(a.body.reserved_tokens, 100);

    // Revocation takes effect on the very next request.
    assert.equal((await allot.api('GET', '/v1/subscriptions', undefined, { key: keyB })).status, 200);
    const keyBId = (await must(allot, 'GET', '/v1/api-keys')).data.find((k: { shop_id: string }) => k.shop_id === 'shopB').id;
    await must(allot, 'DELETE', `/v1/api-keys/${keyBId}`);
    for (const [method, path, body] of [
      ['GET', '/v1/subscriptions', undefined],
      ['POST', '/v1/usage', { event_id: 'after-revoke', shop_id: 'shopB', user_id: 'u1', tokens: 1 }],
      ['POST', '/v1/usage', { event_id: 'after-revoke', shop_id: 'shopB', user_id: 'u1', tokens: 'many' }],
      ['POST', '/v1/check', { shop_id: 'shopA', user_id: 'u1' }],
      ['GET', '/v1/subscriptions/shopB/u1', undefined],
    ] as const) {
      const res = await allot.api(method, path, body, { key: keyB, headers: method === 'POST' ? { 'idempotency-key': `revoked-${path}` } : {} });
      assert.equal(res.status, 401, `${method} ${path} with a revoked key`);
      assert.equal(res.body.code, 'unauthorized');
    }
    assert.equal((await allot.testDb.db.all("SELECT 1 FROM usage_events WHERE event_id = 'after-revoke'")).length, 0);
    assert.equal((await allot.testDb.db.all("SELECT 1 FROM idempotency_keys WHERE key LIKE 'revoked-%'")).length, 0);
    for (const bad of [`${keyB}x`, keyB.slice(0, -1), 'allot_sk_', MASTER_KEY.slice(0, -1), `${MASTER_KEY} `.trim() + 'z']) {
      assert.equal((await allot.api('GET', '/v1/subscriptions', undefined, { key: bad })).status, 401, `key ${bad.slice(0, 12)}…`);
    }
    await assertVerified(allot.testDb.db);
  });
}

test('keys are compared as SHA-256 digests in constant time, and found by digest', async (t) => {
  const allot = await startAllot('sqlite');
  t.after(allot.close);
  const shopKey = await createShopKey(allot, 'shopA');
  const original = crypto.timingSafeEqual;
  const calls: Array<[Buffer, Buffer]> = [];
  crypto.timingSafeEqual = ((a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
    calls.push([Buffer.from(a as Uint8Array), Buffer.from(b as Uint8Array)]);
    return original(a, b);
  }) as typeof crypto.timingSafeEqual;
  syncBuiltinESMExports();
  t.after(() => {
    crypto.timingSafeEqual = original;
    syncBuiltinESMExports();
  });
  const keyring = new Keyring(allot.services, sha256(MASTER_KEY));
  const digestOf = (s: string) => Buffer.from(sha256(s), 'hex');

  assert.equal((await keyring.authenticate(MASTER_KEY)).scope.role, 'admin');
  assert.ok(calls.some(([a, b]) => a.equals(digestOf(MASTER_KEY)) && b.equals(digestOf(MASTER_KEY))), 'the master key is compared by digest in constant time');
  calls.length = 0;
  assert.equal((await keyring.authenticate(shopKey)).scope.ownShop, 'shopA');
  assert.ok(calls.some(([a, b]) => a.equals(digestOf(shopKey)) && b.equals(digestOf(shopKey))), 'an API key is compared by digest in constant time');
  assert.ok(calls.every(([a, b]) => a.length === 32 && b.length === 32), 'only fixed-length digests are compared, never raw keys');
  calls.length = 0;
  await assert.rejects(keyring.authenticate(`${MASTER_KEY.slice(0, -1)}X`), { code: 'unauthorized' });
  assert.ok(calls.length >= 1 && calls.every(([a, b]) => a.length === 32 && b.length === 32));

  const stored = await allot.testDb.db.all<{ secret_hash: string; prefix: string }>('SELECT secret_hash, prefix FROM api_keys');
  assert.deepEqual(stored.map((r) => r.secret_hash), [sha256(shopKey)], 'only the digest is stored');
  assert.ok(shopKey.startsWith(stored[0]!.prefix) && stored[0]!.prefix.length < 20);
});

test('sqlite: what a batch remembers of a key follows its writes: a revocation refuses the units after it, a rolled-back revocation or creation is forgotten', async (t) => {
  const allot = await startAllot('sqlite');
  t.after(allot.close);
  const shopKey = await createShopKey(allot, 'shopA');
  const keyId = (await allot.api('GET', '/v1/api-keys')).body.data[0].id as string;
  const keyring = new Keyring(allot.services, null);
  const db = allot.testDb.db as SqliteDb;
  const unitsOfKey = async () => (await keyring.authenticate(shopKey)).services;

  // A revocation that rolls back: the key stays live for the unit after it.
  let caller = await unitsOfKey();
  let before = db.stats.batches;
  const rolledBack = await Promise.allSettled([
    caller.write(async () => 'before'),
    allot.services.write(async ({ q, now }) => {
      await revokeApiKeyRow(q, keyId, now);
      throw new Error('changed its mind');
    }),
    caller.write(async () => 'after'),
  ]);
  assert.equal(db.stats.batches - before, 1, 'the three units shared one transaction');
  assert.deepEqual(rolledBack.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);

  // A revocation that commits: the unit after it, in the same transaction, is refused.
  caller = await unitsOfKey();
  before = db.stats.batches;
  const revoked = await Promise.allSettled([
    caller.write(async () => 'before'),
    revokeApiKey(allot.services, Scope.admin('test'), keyId),
    caller.write(async () => 'after'),
  ]);
  assert.equal(db.stats.batches - before, 1, 'the three units shared one transaction');
  assert.deepEqual(revoked.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected']);
  assert.equal(((revoked[2] as PromiseRejectedResult).reason as AllotError).code, 'unauthorized');

  // A key created and found live by a unit that then rolls back is not live for the unit after it.
  before = db.stats.batches;
  const created = await Promise.allSettled([
    allot.services.write(async ({ q, now }) => {
      await insertApiKey(q, { id: 'key_rolled_back', name: 'gone', role: 'shop', shop_id: 'shopA', prefix: 'allot_sk_gone', secret_hash: 'f'.repeat(64), created_at: now, revoked_at: null });
      assert.equal(await isKeyLive(q, 'key_rolled_back'), true);
      throw new Error('changed its mind');
    }),
    allot.services.write(({ q }) => isKeyLive(q, 'key_rolled_back')),
  ]);
  assert.equal(db.stats.batches - before, 1, 'the two units shared one transaction');
  assert.deepEqual(created.map((r) => (r.status === 'fulfilled' ? r.value : 'rejected')), ['rejected', false]);
});

for (const dialect of DIALECTS) {
  test(`${dialect}: API keys, the master key and Idempotency-Keys never appear in logs`, async (t) => {
    const allot = await startAllot(dialect);
    t.after(allot.close);
    let logs = '';
    const capture = new Writable({
      write(chunk, _encoding, done) {
        logs += chunk.toString();
        done();
      },
    });
    const app = buildServer({ services: allot.services, masterKey: MASTER_KEY, logLevel: 'trace', logStream: capture });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    t.after(() => app.close());
    const call = async (method: string, path: string, key: string, body?: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: await res.json().catch(() => undefined) };
    };
    const created = await call('POST', '/v1/api-keys', MASTER_KEY, { name: 'logged?', role: 'shop', shop_id: 's1' });
    assert.equal(created.status, 201);
    const shopKey = created.body.key as string;
    const idem = 'idem-secret-3f9a1c';
    await call('POST', '/v1/plans', MASTER_KEY, { id: 'p', display_name: 'P', allocated_tokens: 10, price_minor: 1, currency: 'USD', billing_cycle: 'monthly', tier: 1 }, { 'idempotency-key': idem });
    await call('PUT', '/v1/subscriptions/s1/u1', shopKey, { plan_id: 'p' }, { 'idempotency-key': idem });
    await call('POST', '/v1/usage', shopKey, { event_id: 'e', shop_id: 's1', user_id: 'u1', tokens: 50, enforce: true });
    await call('GET', '/v1/subscriptions/s1/u1', `${shopKey}tampered`);
    await call('GET', '/v1/subscriptions/s1/u1', `${MASTER_KEY}tampered`);
    await call('GET', `/v1/subscriptions/s1/u1?key=x`, shopKey, undefined, { 'x-api-key': 'n/a' });
    await call('DELETE', `/v1/api-keys/${created.body.id}`, MASTER_KEY);
    await call('GET', '/v1/subscriptions', shopKey);
    await app.close();

    assert.match(logs, /"msg":"request"/, 'logs were captured');
    assert.ok(logs.split('\n').filter(Boolean).length >= 8);
    for (const secret of [MASTER_KEY, shopKey, shopKey.slice(9), sha256(shopKey), sha256(MASTER_KEY), idem]) {
      assert.ok(!logs.includes(secret), `a secret appears in the logs: ${secret.slice(0, 6)}…`);
    }
  });
}
