/**
 * A failed sync of SQLite's write-ahead log is fatal to the process: the
 * kernel may have dropped the pages it could not write, and a later sync
 * would report success without them. The server answers 503 to everything,
 * `/healthz` included so a liveness probe restarts it, and after the restart
 * SQLite recovers from what is on disk and a retried event counts once.
 */
import assert from 'node:assert/strict';
import { fdatasync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSqlite } from '../../src/store/sqlite/db.ts';
import type { TestDb } from '../support/dialects.ts';
import { seedPlans, startAllot } from '../support/harness.ts';

test('sqlite: after a failed WAL sync every request is a 503 until a restart, and a retried event then counts once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'allot-wal-sync-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const sqlitePath = join(dir, 'allot.db');
  const open = (failNext: { now: boolean }): TestDb => {
    const db = openSqlite(sqlitePath, {
      fdatasync: (fd, done) => {
        if (!failNext.now) return fdatasync(fd, done);
        failNext.now = false;
        setImmediate(() => done(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })));
      },
    });
    return { db, config: { dialect: 'sqlite', sqlitePath }, cleanup: () => db.close() };
  };
  const event = { event_id: 'e1', shop_id: 's', user_id: 'u', tokens: 40 };

  const failing = { now: false };
  const first = await startAllot('sqlite', { clock: '2026-03-01T00:00:00.000Z', testDb: open(failing) });
  await seedPlans(first, ['basic']);
  assert.equal((await first.api('PUT', '/v1/subscriptions/s/u', { plan_id: 'basic' })).status, 201);
  failing.now = true;
  const lost = await first.api('POST', '/v1/usage', event);
  assert.equal(lost.status, 503, JSON.stringify(lost.body));
  assert.equal(lost.body.code, 'service_unavailable');
  for (const [method, path] of [['POST', '/v1/usage'], ['GET', '/v1/subscriptions/s/u'], ['GET', '/readyz'], ['GET', '/healthz']] as const) {
    const res = await first.api(method, path, method === 'POST' ? { ...event, event_id: 'e2' } : undefined);
    assert.equal(res.status, 503, `${method} ${path}: ${JSON.stringify(res.body)}`);
  }
  await first.close();

  const second = await startAllot('sqlite', { clock: '2026-03-01T00:00:00.000Z', testDb: open({ now: false }) });
  t.after(second.close);
  assert.equal((await second.api('GET', '/healthz')).status, 200);
  const retried = await second.api('POST', '/v1/usage', event);
  assert.equal(retried.status, 200, JSON.stringify(retried.body));
  assert.equal(retried.body.used_tokens, 40, 'counted once, whether or not the lost answer had reached the disk');
  assert.equal((await second.api('GET', '/v1/subscriptions/s/u')).body.used_tokens, 40);
});
