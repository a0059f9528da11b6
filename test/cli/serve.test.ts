/**
 * `allot serve` as a real child process on both dialects: it answers
 * /healthz and, on SIGTERM, finishes the requests in flight before it exits.
 * Without a master key it says how to make an admin key, in a command that works.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { DIALECTS, openTestDb } from '../support/dialects.ts';
import { MASTER_KEY } from '../support/harness.ts';
import { dbEnv, serveAllot, type Served } from '../support/process.ts';

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** A raw HTTP/1.1 connection: what it receives, and when the server closes it. */
interface Connection {
  socket: Socket;
  received(): string;
  closed: Promise<string>;
}

function open(url: string): Promise<Connection> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk));
    const closed = new Promise<string>((done) => socket.on('close', () => done(text)));
    socket.on('connect', () => resolve({ socket, received: () => text, closed }));
    socket.on('error', reject);
  });
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The responses one connection received, in order (allot's answers carry a content-length). */
function responses(text: string): RawResponse[] {
  const parsed: RawResponse[] = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const length = Number(headers['content-length']);
    const body = Buffer.from(rest.slice(end + 4)).subarray(0, length).toString();
    parsed.push({ status: Number(statusLine!.split(' ')[1]), headers, body });
    rest = Buffer.from(rest.slice(end + 4)).subarray(length).toString();
  }
  return parsed;
}

const planRequest = (id: string) => {
  const body = JSON.stringify({ id, display_name: id, allocated_tokens: 1, price_minor: 1, currency: 'USD', billing_cycle: 'monthly', tier: 1 });
  const head = `POST /v1/plans HTTP/1.1\r\nhost: allot\r\nauthorization: Bearer ${MASTER_KEY}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`;
  return { start: head + body.slice(0, 10), rest: body.slice(10) };
};
const healthRequest = 'GET /healthz HTTP/1.1\r\nhost: allot\r\n\r\n';

for (const dialect of DIALECTS) {
  test(`${dialect}: cli — SIGTERM closes idle keep-alive connections at once, finishes requests in flight, answers a request arriving meanwhile with a problem document, and exits`, { timeout: 60_000 }, async (t) => {
    const testDb = await openTestDb(dialect);
    t.after(testDb.cleanup);
    const served = await serveAllot(dbEnv(testDb.config, { ALLOT_MASTER_KEY: MASTER_KEY, ALLOT_SWEEP_SECONDS: '0' }));
    t.after(async () => {
      await served.stop();
    });

    // Keep-alive connections left idle after a burst.
    const idle = await Promise.all([1, 2, 3].map(async () => {
      const connection = await open(served.url);
      connection.socket.write(healthRequest);
      await until(() => responses(connection.received()).length === 1);
      return connection;
    }));
    // A request in flight: its headers are read, its body still arriving.
    const inFlight = await open(served.url);
    const plan = planRequest('drained');
    inFlight.socket.write(plan.start);
    // A request that has begun to arrive but whose headers are not complete yet.
    const arriving = await open(served.url);
    arriving.socket.write(healthRequest.slice(0, 20));
    await fetch(`${served.url}/healthz`);

    served.child.kill('SIGTERM');
    // The idle connections close at once, not when the keep-alive timeout ends them.
    await Promise.all(idle.map((c) => c.closed));
    arriving.socket.write(healthRequest.slice(20));
    inFlight.socket.write(plan.rest);

    const [refused, ...afterRefusal] = responses(await arriving.closed);
    assert.equal(refused?.status, 503, await arriving.closed);
    assert.deepEqual(afterRefusal, []);
    assert.match(refused.headers['content-type'] ?? '', /^application\/problem\+json/);
    const problem = JSON.parse(refused.body);
    assert.equal(problem.code, 'service_unavailable');
    assert.equal(problem.status, 503);
    assert.equal(typeof problem.detail, 'string');

    const [finished, ...afterFinished] = responses(await inFlight.closed);
    assert.equal(finished?.status, 201, await inFlight.closed);
    assert.deepEqual(afterFinished, []);
    assert.equal(JSON.parse(finished.body).id, 'drained');
    assert.equal(finished.headers.connection, 'close', 'a connection whose work finished during the drain is closed with it');

    assert.equal(await served.exited, 0);
    assert.ok(served.logs.some((l) => l.msg === 'stopped'));
    const row = await testDb.db.one<{ id: string }>('SELECT id FROM plans WHERE id = ?', ['drained']);
    assert.equal(row?.id, 'drained', 'the request in flight was committed');
  });

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

test('sqlite: cli — a request that never finishes holds the shutdown only until ALLOT_SHUTDOWN_TIMEOUT_SECONDS', { timeout: 60_000 }, async (t) => {
  const testDb = await openTestDb('sqlite');
  t.after(testDb.cleanup);
  const served = await serveAllot(dbEnv(testDb.config, { ALLOT_MASTER_KEY: MASTER_KEY, ALLOT_SWEEP_SECONDS: '0', ALLOT_SHUTDOWN_TIMEOUT_SECONDS: '1' }));
  t.after(() => {
    // A server that would wait for the request forever is not left behind.
    if (served.child.exitCode === null) served.child.kill('SIGKILL');
  });
  const stuck = await open(served.url);
  stuck.socket.write(planRequest('stuck').start);
  await fetch(`${served.url}/healthz`);
  served.child.kill('SIGTERM');
  assert.equal(await served.exited, 1, 'a shutdown cut short is not a clean exit');
  assert.ok(served.logs.some((l) => l.level === 40 && /shutdown/i.test(String(l.msg))), JSON.stringify(served.logs));
  await stuck.closed;
});
