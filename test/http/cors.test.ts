/**
 * CORS (`ALLOT_CORS_ORIGINS`) on a real `allot serve`: a listed origin's
 * preflight is answered and its answers, errors included, are readable by
 * it; any other origin gets no CORS header; on both dialects.
 */
import assert from 'node:assert/strict';
import { request, type IncomingHttpHeaders } from 'node:http';
import { test } from 'node:test';
import { DIALECTS, openTestDb } from '../support/dialects.ts';
import { MASTER_KEY } from '../support/harness.ts';
import { dbEnv, serveAllot } from '../support/process.ts';

const LISTED = 'https://ops.example.com';

function call(url: string, method: string, headers: Record<string, string>): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const corsHeaders = (headers: IncomingHttpHeaders) => Object.keys(headers).filter((name) => name.startsWith('access-control-'));

for (const dialect of DIALECTS) {
  test(`${dialect}: cors — listed origins may call the API from a browser, others get nothing`, async (t) => {
    const testDb = await openTestDb(dialect);
    t.after(testDb.cleanup);
    const served = await serveAllot(dbEnv(testDb.config, {
      ALLOT_MASTER_KEY: MASTER_KEY, ALLOT_SWEEP_SECONDS: '0', ALLOT_CORS_ORIGINS: `http://localhost:5173, ${LISTED}`,
    }));
    t.after(async () => {
      await served.stop();
    });
    const preflight = (origin: string) => call(`${served.url}/v1/plans`, 'OPTIONS', {
      origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, idempotency-key',
    });

    const allowed = await preflight(LISTED);
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers['access-control-allow-origin'], LISTED);
    assert.match(String(allowed.headers['access-control-allow-methods']), /\bPOST\b/);
    assert.match(String(allowed.headers['access-control-allow-methods']), /\bPUT\b/);
    const allowedHeaders = String(allowed.headers['access-control-allow-headers']).toLowerCase().split(/,\s*/);
    for (const name of ['authorization', 'content-type', 'idempotency-key']) assert.ok(allowedHeaders.includes(name), name);
    assert.equal(allowed.headers['access-control-allow-credentials'], undefined, 'keys travel in a header, never as cookies');

    const read = await call(`${served.url}/v1/plans`, 'GET', { origin: LISTED, authorization: `Bearer ${MASTER_KEY}` });
    assert.equal(read.status, 200);
    assert.equal(read.headers['access-control-allow-origin'], LISTED);
    assert.match(String(read.headers.vary), /Origin/);
    const exposed = String(read.headers['access-control-expose-headers']).toLowerCase().split(/,\s*/);
    for (const name of ['retry-after', 'idempotent-replayed', 'x-request-id']) assert.ok(exposed.includes(name), name);

    const refused = await call(`${served.url}/v1/plans`, 'GET', { origin: 'http://localhost:5173' });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers['access-control-allow-origin'], 'http://localhost:5173', 'the page can show the problem too');
    assert.equal(JSON.parse(refused.body).code, 'unauthorized');

    for (const other of ['https://evil.example.com', `${LISTED}:444`, 'http://ops.example.com', 'null']) {
      const otherPreflight = await preflight(other);
      assert.notEqual(otherPreflight.status, 204, other);
      assert.deepEqual(corsHeaders(otherPreflight.headers), [], other);
      const otherRead = await call(`${served.url}/v1/plans`, 'GET', { origin: other, authorization: `Bearer ${MASTER_KEY}` });
      assert.equal(otherRead.status, 200);
      assert.deepEqual(corsHeaders(otherRead.headers), [], other);
    }
    const noOrigin = await call(`${served.url}/v1/plans`, 'GET', { authorization: `Bearer ${MASTER_KEY}` });
    assert.deepEqual(corsHeaders(noOrigin.headers), []);
  });
}

test('sqlite: cors — a malformed ALLOT_CORS_ORIGINS stops the server at start', async (t) => {
  const testDb = await openTestDb('sqlite');
  t.after(testDb.cleanup);
  const started = serveAllot(dbEnv(testDb.config, { ALLOT_SWEEP_SECONDS: '0', ALLOT_CORS_ORIGINS: 'https://ops.example.com/' }));
  // A server that started anyway is stopped, so the failed assertion does not leave it running.
  await assert.rejects(started.then(async (served) => void (await served.stop())), /ALLOT_CORS_ORIGINS/);
});
