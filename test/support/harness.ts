/**
 * A real allot HTTP server on a real database, for tests: seeds nothing,
 * listens on a free port, and talks to it over HTTP with `fetch`.
 *
 * @example
 * const allot = await startAllot('sqlite', { clock: '2026-01-31T12:00:00.000Z' });
 * t.after(allot.close);
 * const res = await allot.api('POST', '/v1/plans', plan);
 */
import type { FastifyInstance } from 'fastify';
import { TestClock, systemClock } from '../../src/domain/clock.ts';
import { buildServer } from '../../src/http/server.ts';
import { Services, defaultRules, type Rules } from '../../src/service/context.ts';
import type { Dialect } from '../../src/store/db.ts';
import { migrations } from '../../src/store/migrations.ts';
import { openTestDb, type TestDb } from './dialects.ts';

export const MASTER_KEY = 'test-master-key-0123456789';

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface CallOptions {
  key?: string | null;
  headers?: Record<string, string>;
  /** Sent as is instead of JSON-encoding `body`. */
  raw?: string;
}

export interface Allot {
  url: string;
  services: Services;
  clock: TestClock | null;
  testDb: TestDb;
  app: FastifyInstance;
  api<T = any>(method: string, path: string, body?: unknown, options?: CallOptions): Promise<ApiResponse<T>>;
  /** Moves the test clock (over HTTP, as a client would). */
  setClock(instant: string): Promise<void>;
  close(): Promise<void>;
}

export async function startAllot(
  dialect: Dialect,
  options: { clock?: string; rules?: Partial<Rules>; testDb?: TestDb } = {},
): Promise<Allot> {
  const testDb = options.testDb ?? (await openTestDb(dialect));
  await testDb.db.migrate(migrations);
  const clock = options.clock ? new TestClock(Date.parse(options.clock)) : null;
  const services = new Services(testDb.db, clock ?? systemClock, { ...defaultRules, ...options.rules });
  const app = buildServer({ services, masterKey: MASTER_KEY, logLevel: 'silent' });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });

  const api = async <T>(method: string, path: string, body?: unknown, call: CallOptions = {}): Promise<ApiResponse<T>> => {
    const headers: Record<string, string> = { ...call.headers };
    const key = call.key === undefined ? MASTER_KEY : call.key;
    if (key !== null) headers.authorization = `Bearer ${key}`;
    let payload: string | undefined = call.raw;
    if (payload === undefined && body !== undefined) payload = JSON.stringify(body);
    if (payload !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(`${address}${path}`, { method, headers, body: payload });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  };

  let closed = false;
  return {
    url: address,
    services,
    clock,
    testDb,
    app,
    api,
    async setClock(instant: string) {
      const res = await api('PUT', '/v1/test-clock', { now: instant });
      if (res.status !== 200) throw new Error(`test clock: ${res.status} ${JSON.stringify(res.body)}`);
    },
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await testDb.cleanup();
    },
  };
}

export const plans = {
  basic: { id: 'basic', display_name: 'Basic', allocated_tokens: 100_000, price_minor: 999, currency: 'USD', billing_cycle: 'monthly', tier: 1 },
  pro: { id: 'pro', display_name: 'Pro', allocated_tokens: 400_000, price_minor: 2999, currency: 'USD', billing_cycle: 'monthly', tier: 2 },
  enterprise: { id: 'enterprise', display_name: 'Enterprise', allocated_tokens: 2_000_000, price_minor: 9999, currency: 'USD', billing_cycle: 'monthly', tier: 3 },
  proYearly: { id: 'pro-yearly', display_name: 'Pro (yearly)', allocated_tokens: 400_000, price_minor: 29990, currency: 'USD', billing_cycle: 'yearly', tier: 2 },
} as const;

/** Creates the standard plans; answers the allot for chaining. */
export async function seedPlans(allot: Allot, which: Array<keyof typeof plans> = ['basic', 'pro', 'enterprise']): Promise<void> {
  for (const name of which) {
    const res = await allot.api('POST', '/v1/plans', plans[name]);
    if (res.status !== 201) throw new Error(`seed plan ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  }
}

export async function createShopKey(allot: Allot, shopId: string): Promise<string> {
  const res = await allot.api('POST', '/v1/api-keys', { name: `key for ${shopId}`, role: 'shop', shop_id: shopId });
  if (res.status !== 201) throw new Error(`shop key: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.key as string;
}
