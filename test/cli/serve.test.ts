/**
 * `allot serve` as a real child process on both dialects: it answers
 * /healthz and, on SIGTERM, finishes the requests in flight before it exits.
 * Without a master key it says how to make an admin key, in a command that works.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { DIALECTS, openTestDb } from '../support/dialects.ts';
import { MASTER_KEY } from '../support/harness.ts';
import { dbEnv, serveAllot, type Served } from '../support/process.ts';

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

for (const dialect of DIALECTS) {
  test(`${dialect}: cli — serve answers /healthz and drains in-flight requests on SIGTERM`, async (t) => {
    const testDb = await openTestDb(dialect);
    t.after(testDb.cleanup);
    let served: Served | undefined;
    t.after(async () => {
      await served?.stop();
    });
    served = await serveAllot(dbEnv(testDb.config, { ALLOT_MASTER_KEY: MASTER_KEY, ALLOT_SWEEP_SECONDS: '0' }));
    const health = await fetch(`${served.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });

    // A request whose body is still arriving is in flight when SIGTERM comes.
    const body = JSON.stringify({ id: 'late', display_name: 'Late', allocated_tokens: 1, price_minor: 1, currency: 'USD', billing_cycle: 'monthly', tier: 1 });
    const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(`${served!.url}/v1/plans`, {
        method: 'POST',
        headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      // Once the partial request is written and a later request on another connection has been
      // answered, the server has read the first one's headers: it is in flight.
      req.write(body.slice(0, 10), () => {
        void fetch(`${served!.url}/healthz`)
          .then(() => {
            served!.child.kill('SIGTERM');
            return until(() => served!.logs.some((l) => l.msg === 'draining in-flight requests'));
          })
          .then(() => req.end(body.slice(10)), reject);
      });
    });
    const { status, text } = await answer;
    assert.equal(status, 201, `${text}\n${JSON.stringify(served.logs)}`);
    assert.equal(JSON.parse(text).id, 'late');
    assert.equal(await served.exited, 0);
    assert.ok(served.logs.some((l) => l.msg === 'stopped'));
    const row = await testDb.db.one<{ id: string }>('SELECT id FROM plans WHERE id = ?', ['late']);
    assert.equal(row?.id, 'late', 'the drained request was committed');
  });
}

test('sqlite: cli — serve without a master key suggests a command that makes a working admin key, pasted as it is', async (t) => {
  const testDb = await openTestDb('sqlite');
  t.after(testDb.cleanup);
  const env = dbEnv(testDb.config, { ALLOT_SWEEP_SECONDS: '0' });
  const served = await serveAllot(env);
  t.after(async () => {
    await served.stop();
  });
  await until(() => served.logs.some((l) => l.level === 40));
  const warning = String(served.logs.find((l) => l.level === 40)!.msg);
  const command = /`([^`]+)`/.exec(warning)?.[1];
  assert.ok(command, warning);

  // Pasted in another folder, in a shell that has none of the server's settings.
  const shellEnv = { ...env };
  delete shellEnv.ALLOT_DB;
  const { stdout } = await promisify(execFile)('sh', ['-c', command], { cwd: tmpdir(), env: shellEnv });
  const key = stdout.split('\n')[0]!;
  assert.match(key, /^allot_sk_/, stdout);
  const keys = await fetch(`${served.url}/v1/api-keys`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(keys.status, 200, 'the server accepts the new key as an admin key');
  assert.deepEqual((await keys.json()).data.map((k: { role: string }) => k.role), ['admin']);
});
