/**
 * Migrations run at start and by `allot migrate`; on PostgreSQL an advisory
 * lock makes several processes starting at once on an empty database safe.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { migrations } from '../../src/store/migrations.ts';
import { DIALECTS, openTestDb } from '../support/dialects.ts';
import { plans } from '../support/harness.ts';
import { runCli, startCluster, startServerProcess, type ServerProcess } from '../support/processes.ts';

test('postgres: three servers started at once on an empty database all migrate and serve', async (t) => {
  const { servers, testDb } = await startCluster(t, 'postgres', 3);
  assert.ok(testDb);
  const applied = await testDb.db.all<{ id: string }>('SELECT id FROM allot_migrations ORDER BY id');
  assert.deepEqual(applied.map((row) => row.id), migrations.map((m) => m.id));
  const [a, b, c] = servers;
  assert.equal((await a!.api('POST', '/v1/plans', plans.basic)).status, 201);
  assert.equal((await b!.api('PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'basic' })).status, 201);
  const read = await c!.api('GET', '/v1/subscriptions/shop1/u1');
  assert.equal(read.status, 200, JSON.stringify(read.body));
  assert.equal(read.body.plan_id, 'basic');
  for (const server of servers) {
    const ready = await server.api('GET', '/readyz', undefined, { key: null });
    assert.deepEqual(ready.body, { status: 'ready', database: 'postgres' });
  }
});

test('postgres: `allot migrate` run three times at once applies each migration once', async (t) => {
  const testDb = await openTestDb('postgres');
  let server: ServerProcess | undefined;
  t.after(async () => {
    await server?.stop();
    await testDb.cleanup();
  });
  const databaseUrl = testDb.config.databaseUrl!;
  const runs = await Promise.all([1, 2, 3].map(() => runCli(['migrate'], { databaseUrl })));
  for (const run of runs) assert.equal(run.code, 0, run.stderr);
  const outputs = runs.map((run) => run.stdout.trim()).sort();
  assert.deepEqual(outputs, [
    `applied ${migrations.map((m) => m.id).join(', ')}`,
    'database is up to date',
    'database is up to date',
  ]);
  const applied = await testDb.db.all<{ id: string }>('SELECT id FROM allot_migrations ORDER BY id');
  assert.deepEqual(applied.map((row) => row.id), migrations.map((m) => m.id));

  // A server on the migrated database starts and serves.
  server = await startServerProcess({ databaseUrl });
  assert.equal((await server.api('POST', '/v1/plans', plans.basic)).status, 201);
});

for (const dialect of DIALECTS) {
  test(`${dialect}: a database a newer allot has migrated is refused by \`allot migrate\` and by the server`, async (t) => {
    const testDb = await openTestDb(dialect);
    t.after(() => testDb.cleanup());
    const target = testDb.config.databaseUrl ? { databaseUrl: testDb.config.databaseUrl } : { sqlitePath: testDb.config.sqlitePath! };
    assert.equal((await runCli(['migrate'], target)).code, 0);
    await testDb.db.run('INSERT INTO allot_migrations (id, applied_at) VALUES (?, ?)', ['9999_from_a_newer_allot', Date.now()]);

    const migrate = await runCli(['migrate'], target);
    assert.equal(migrate.code, 1);
    assert.match(migrate.stderr, /migrated by a newer allot \(9999_from_a_newer_allot\)/);
    await assert.rejects(startServerProcess(target), /migrated by a newer allot/);
  });
}
