/**
 * Thousands of hostile requests at every route: wrong types, huge numbers,
 * deep nesting, unicode, NUL bytes, path tricks, oversized and truncated
 * bodies, wrong media types and methods, bad headers. Never a 5xx, always a
 * problem document, never a change to the database, and the server stays
 * healthy. Requests are generated from a fixed seed, so a failure replays.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import fc from 'fast-check';
import type { ZodType } from 'zod';
import { allRoutes } from '../../src/http/server.ts';
import { DIALECTS } from '../support/dialects.ts';
import { createShopKey, MASTER_KEY, seedPlans, startAllot } from '../support/harness.ts';
import { assertVerified, fingerprint } from './support.ts';

const SEED = Number(process.env.ALLOT_FUZZ_SEED ?? 20261127);
const REQUESTS = Number(process.env.ALLOT_FUZZ_REQUESTS ?? 1500);

interface Template {
  params: Record<string, string>;
  query?: Record<string, string>;
  body?: Record<string, unknown>;
}

/** A valid request per route, on the fixture below; the fuzzer breaks one part of it at a time. */
const templates: Record<string, Template> = {
  'POST /v1/plans': { params: {}, body: { id: 'fz', display_name: 'Fz', allocated_tokens: 10, price_minor: 1, currency: 'USD', billing_cycle: 'monthly', tier: 5 } },
  'GET /v1/plans': { params: {}, query: { limit: '10' } },
  'GET /v1/plans/{id}': { params: { id: 'basic' } },
  'POST /v1/plans/{id}/archive': { params: { id: 'basic' } },
  'PUT /v1/subscriptions/{shop_id}/{user_id}': { params: { shop_id: 'shop1', user_id: 'u1' }, body: { plan_id: 'pro', when: 'now' } },
  'GET /v1/subscriptions/{shop_id}/{user_id}': { params: { shop_id: 'shop1', user_id: 'u1' } },
  'GET /v1/subscriptions': { params: {}, query: { shop_id: 'shop1', status: 'active', limit: '5' } },
  'POST /v1/subscriptions/{shop_id}/{user_id}/cancel': { params: { shop_id: 'shop1', user_id: 'u1' }, body: { at_period_end: false } },
  'POST /v1/subscriptions/{shop_id}/{user_id}/suspend': { params: { shop_id: 'shop1', user_id: 'u1' } },
  'POST /v1/subscriptions/{shop_id}/{user_id}/resume': { params: { shop_id: 'shop1', user_id: 'u2' } },
  'GET /v1/subscriptions/{shop_id}/{user_id}/periods': { params: { shop_id: 'shop1', user_id: 'u1' }, query: { limit: '3' } },
  'GET /v1/subscriptions/{shop_id}/{user_id}/status': { params: { shop_id: 'shop1', user_id: 'u1' }, query: { include_history: 'true' } },
  'GET /v1/subscriptions/{shop_id}/{user_id}/usage/daily': { params: { shop_id: 'shop1', user_id: 'u1' }, query: { from: '2026-03-01', to: '2026-03-05' } },
  'POST /v1/usage': { params: {}, body: { event_id: 'fz1', shop_id: 'shop1', user_id: 'u1', tokens: 5, model: 'm', enforce: true } },
  'GET /v1/usage': { params: {}, query: { shop_id: 'shop1', user_id: 'u1', from: '2026-03-01', limit: '10' } },
  'GET /v1/usage/{event_id}': { params: { event_id: 'e1' }, query: { shop_id: 'shop1' } },
  'POST /v1/check': { params: {}, body: { shop_id: 'shop1', user_id: 'u1', tokens: 5 } },
  'POST /v1/reservations': { params: {}, body: { reservation_id: 'fzr', shop_id: 'shop1', user_id: 'u1', tokens: 5, ttl_seconds: 60 } },
  'GET /v1/reservations/{id}': { params: { id: 'r1' }, query: { shop_id: 'shop1' } },
  'POST /v1/reservations/{id}/commit': { params: { id: 'r1' }, body: { tokens: 5, event_id: 'fzc', shop_id: 'shop1' } },
  'POST /v1/reservations/{id}/release': { params: { id: 'r1' }, body: { shop_id: 'shop1' } },
  'POST /v1/api-keys': { params: {}, body: { name: 'fz', role: 'shop', shop_id: 'shop1' } },
  'GET /v1/api-keys': { params: {}, query: { limit: '2' } },
  'DELETE /v1/api-keys/{id}': { params: { id: 'key_x' } },
  'POST /v1/renewals/run': { params: {} },
  'PUT /v1/test-clock': { params: {}, body: { now: '2026-03-02T00:00:00.000Z' } },
  'GET /v1/test-clock': { params: {} },
  'GET /v1/shops/{shop_id}/overview': { params: { shop_id: 'shop1' }, query: { from: '2026-03-01', to: '2026-03-05', limit: '5' } },
  'PUT /v1/models/{model}': { params: { model: 'vendor/m' }, body: { input_weight: '2.5', output_weight: 10, cached_input_weight: 0.25 } },
  'GET /v1/models': { params: {}, query: { limit: '5' } },
  'GET /v1/models/{model}': { params: { model: 'vendor/m' } },
  // A model without a rate: a DELETE the fuzzer lets through (as one with a bad Idempotency-Key) changes nothing.
  'DELETE /v1/models/{model}': { params: { model: 'no-rate' } },
  'GET /v1/subscriptions/{shop_id}/{user_id}/usage/by-model': { params: { shop_id: 'shop1', user_id: 'u1' }, query: { from: '2026-03-01', to: '2026-03-05' } },
};

interface HostileRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  why: string;
}

function nested(depth: number, leaf: unknown = 1): string {
  return '['.repeat(depth) + JSON.stringify(leaf) + ']'.repeat(depth);
}

const hostileScalar = fc.oneof(
  fc.constantFrom<unknown>(
    null, true, false, 0, -1, -0.5, 1.5, 1e12 + 1, 1e13, 1e300, 2 ** 53 + 2, -(2 ** 63), '', ' ', '\u0000', 'a\u0000b', '\uFEFF',
    '../../etc/passwd', '..', '%2e%2e%2f', '/', 'a/b', 'a b', '𝕒𝕝𝕝𝕠𝕥', '\u202Eevil', 'é', '\uD800', 'null', 'true', '1e3', '12abc', '0x10',
    'x'.repeat(129), 'y'.repeat(5000), '<script>', "'; DROP TABLE subscriptions; --", '{"$ne":null}', [], {}, [1, 2], { $ne: null },
    { __proto__: { admin: true } }, '2026-13-45', '2026-02-30T00:00:00Z', 'now', '-1', 'NaN', 'Infinity',
  ),
  fc.string({ maxLength: 40, unit: 'binary' }),
  fc.double(),
  fc.integer({ min: -(2 ** 31), max: -1 }),
  fc.jsonValue({ maxDepth: 3 }),
);

const SYSTEMATIC_VALUES: unknown[] = [
  null, true, '1', '', [], {}, [1], -1, 0.5, 1e12 + 1, 1e13, 2 ** 53, 1e308, 3601, 0, 'a/b', '..x/', 'x'.repeat(129), '\u0000', 'Ω', 'usd', 'weekly', 'later', 'root',
];

/** Values that are never a valid request for any route: not the `{}` an all-optional body accepts. */
const junkBody = fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.anything({ maxDepth: 3 }).map((v) => JSON.parse(JSON.stringify(v ?? null) ?? 'null')))
  .filter((v) => !(typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0));

const isTokenCount = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 1e12;
const isIdentifier = (v: unknown) => typeof v === 'string' && /^[A-Za-z0-9._:@-]{1,128}$/.test(v);

/** The SPEC's own rule for a body field, independent of the zod schemas under test; undefined where the SPEC is silent. */
/** SPEC §10: a decimal 0 … 1000 with at most 6 places, as a JSON number or as decimal text. */
const isWeight = (v: unknown) => {
  const text = typeof v === 'number' && Number.isFinite(v) ? String(v) : typeof v === 'string' && v.length <= 40 ? v : undefined;
  return text !== undefined && /^\d+(\.\d{1,6})?$/.test(text) && Number(text) <= 1000;
};

const SPEC_RULES: Record<string, (v: unknown) => boolean> = {
  tokens: isTokenCount,
  input_tokens: isTokenCount,
  cached_input_tokens: isTokenCount,
  input_weight: isWeight,
  cached_input_weight: isWeight,
  output_weight: isWeight,
  output_tokens: isTokenCount,
  allocated_tokens: isTokenCount,
  ttl_seconds: (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 3600,
  event_id: isIdentifier,
  shop_id: isIdentifier,
  user_id: isIdentifier,
  reservation_id: isIdentifier,
  plan_id: isIdentifier,
  id: isIdentifier,
  currency: (v) => typeof v === 'string' && /^[A-Z]{3}$/.test(v),
  billing_cycle: (v) => v === 'monthly' || v === 'yearly',
  when: (v) => v === 'now' || v === 'period_end',
  role: (v) => v === 'admin' || v === 'shop',
  enforce: (v) => typeof v === 'boolean',
  at_period_end: (v) => typeof v === 'boolean',
};

function buildPath(template: string, params: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name]!));
}

function withQuery(path: string, query: Record<string, string> | undefined): string {
  if (!query || Object.keys(query).length === 0) return path;
  return `${path}?${new URLSearchParams(query).toString()}`;
}

function accepts(schema: ZodType | undefined, value: unknown): boolean {
  return schema === undefined ? value === undefined || (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0) : schema.safeParse(value).success;
}

function decodeSafe(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function queryNames(route: { query?: ZodType | undefined }): string[] {
  const shape = (route.query as { shape?: Record<string, unknown> } | undefined)?.shape;
  return shape ? Object.keys(shape) : [];
}

function hostileRequests(shopKey: string): HostileRequest[] {
  const routes = allRoutes.map((route) => ({ route, template: templates[`${route.method} ${route.path}`]! }));
  const routeArb = fc.constantFrom(...routes);
  const keyArb = fc.constantFrom(MASTER_KEY, MASTER_KEY, shopKey);
  const json = { 'content-type': 'application/json' };

  const boundary = fc.constantFrom<unknown>(-1, -0.5, 0.5, 1e12 + 1, 1e13, 2 ** 53, 2 ** 64, 3601, 0, 1e308, '5', '');
  const mutateBodyField = fc.tuple(routeArb, keyArb, fc.nat(), fc.oneof(hostileScalar, boundary)).map(([{ route, template }, key, pick, value]) => {
    const body: Record<string, unknown> = { ...(template.body ?? {}) };
    const fields = Object.keys(body);
    const field = fields.length ? fields[pick % fields.length]! : 'unexpected';
    body[field] = value;
    return { route, template, key, body, field, why: `body.${field} = ${JSON.stringify(value)?.slice(0, 60)}` };
  })
    .filter(({ route, template, body, field }) => {
      const rule = SPEC_RULES[field];
      return rule ? !rule(body[field]) : !(accepts(route.params, template.params) && accepts(route.body, body));
    });
  const extraField = fc.tuple(routeArb, keyArb, fc.constantFrom('__proto__', 'constructor', 'admin', 'shop_id ', 'TOKENS', 'used_tokens', '\u0000'), hostileScalar)
    .map(([{ route, template }, key, field, value]) => ({ route, template, key, body: { ...(template.body ?? {}), [field]: value } as Record<string, unknown>, why: `extra field ${JSON.stringify(field)}` }));
  const junk = fc.tuple(routeArb, keyArb, junkBody).map(([{ route, template }, key, body]) => ({ route, template, key, body: body as Record<string, unknown>, why: `body ${JSON.stringify(body)?.slice(0, 60)}` }));

  const asJson = fc.oneof(mutateBodyField, extraField, junk.filter(({ route, template, body }) => !(accepts(route.params, template.params) && accepts(route.body, body))))
    .map(({ route, template, key, body, why }): HostileRequest => ({
      method: route.method, path: withQuery(buildPath(route.path, template.params), template.query),
      headers: { ...json, authorization: `Bearer ${key}` }, body: JSON.stringify(body), why,
    }));

  const badPath = fc.tuple(routeArb, keyArb, fc.nat(), fc.constantFrom('..', '.', '%00', 'a%00b', '%2F', '%2e%2e', '%', '%zz', '%C0%AF', 'x'.repeat(300), '%F0%9D%95%92', '*', '~', '%20', 'a;b', 'a?b'))
    .filter(({ 0: { route } }) => /\{/.test(route.path))
    // `.` and `..` are valid identifiers (SPEC §1): sent raw they must still be taken literally, not as a path step.
    .filter(([{ route, template }, , pick, segment]) => {
      const names = Object.keys(template.params);
      const name = names[pick % names.length]!;
      // A `?` in the last segment starts the query: what is left is the request before it, not a hostile one.
      if (segment.includes('?') && route.path.endsWith(`{${name}}`)) return false;
      return route.method === 'GET' || !accepts(route.params, { ...template.params, [name]: decodeSafe(segment) });
    })
    .map(([{ route, template }, key, pick, segment]): HostileRequest => {
      const names = Object.keys(template.params);
      const name = names[pick % names.length]!;
      const path = route.path.replace(/\{(\w+)\}/g, (_, n: string) => (n === name ? segment : encodeURIComponent(template.params[n]!)));
      return { method: route.method, path, headers: { ...json, authorization: `Bearer ${key}` }, body: template.body ? JSON.stringify(template.body) : undefined, why: `path param ${name} = ${segment.slice(0, 20)}` };
    });

  const badQuery = fc.tuple(routeArb, keyArb, fc.constantFrom('limit', 'cursor', 'from', 'to', 'status', 'include_history', 'shop_id'), fc.constantFrom(
    '0', '101', '-1', '1.5', '1e3', 'abc', '', '%00', 'NaN', '99999999999999999999', 'eyJ4IjoxfQ', 'not-base64!!', 'W1tbW1tbW1tbXV1dXV1dXV1d', '2026-02-30', '../', 'TRUE',
  )).filter(([{ route, template }, , name, value]) => route.method === 'GET' && queryNames(route).includes(name)
      && (name === 'cursor' || !accepts(route.query, { ...template.query, [name]: value })))
    .map(([{ route, template }, key, name, value]): HostileRequest => ({
      method: 'GET', path: `${withQuery(buildPath(route.path, template.params), template.query)}${template.query ? '&' : '?'}${name}=${encodeURIComponent(value)}`,
      headers: { authorization: `Bearer ${key}` }, why: `query ${name}=${value}`,
    }));

  const rawBodies = fc.tuple(routeArb, keyArb, fc.nat(), fc.constantFrom('truncated', 'oversized', 'nested', 'nul', 'bom', 'notjson', 'dupkeys-bad', 'huge-number', 'empty-array'))
    .filter(({ 0: { route } }) => route.method !== 'GET')
    .map(([{ route, template }, key, cut, kind]): HostileRequest => {
      const valid = JSON.stringify(template.body ?? { x: 1 });
      const bodies: Record<string, string> = {
        truncated: valid.slice(0, 1 + (cut % (valid.length - 1))),
        oversized: JSON.stringify({ ...(template.body ?? {}), model: 'x'.repeat(70 * 1024) }),
        nested: `{"model":${nested(2000 + (cut % 20_000))}}`,
        nul: valid.replace('{', '{\u0000'),
        bom: `\uFEFF${valid}`.replace('}', ',}'),
        notjson: "{tokens: 1, 'shop_id': shop1}",
        'dupkeys-bad': valid.replace('{', '{"tokens":"a","tokens":-5,'),
        'huge-number': valid.replace(/\d+/, '1' + '0'.repeat(400)),
        'empty-array': '[]',
      };
      return { method: route.method, path: buildPath(route.path, template.params), headers: { ...json, authorization: `Bearer ${key}` }, body: bodies[kind], why: `raw ${kind}` };
    })
    .filter((r) => {
      try {
        const parsed = JSON.parse(r.body!);
        const route = allRoutes.find((x) => x.method === r.method && buildPath(x.path, templates[`${x.method} ${x.path}`]!.params) === r.path)!;
        return !accepts(route.body, parsed);
      } catch {
        return true;
      }
    });

  const badMedia = fc.tuple(routeArb, keyArb, fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/json-patch+json', 'image/png'))
    .filter(({ 0: { route } }) => route.method !== 'GET')
    .map(([{ route, template }, key, type]): HostileRequest => ({
      method: route.method, path: buildPath(route.path, template.params), headers: { 'content-type': type, authorization: `Bearer ${key}` },
      body: JSON.stringify(template.body ?? {}), why: `content-type ${type}`,
    }));

  const wrongMethod = fc.tuple(routeArb, keyArb, fc.constantFrom('PATCH', 'DELETE', 'PUT', 'POST', 'GET', 'OPTIONS', 'HEAD'))
    .filter(([{ route }, , method]) => method !== route.method && !allRoutes.some((r) => r.method === method && r.path === route.path))
    .map(([{ route, template }, key, method]): HostileRequest => ({
      method, path: buildPath(route.path, template.params), headers: { authorization: `Bearer ${key}` }, why: `wrong method ${method}`,
    }));

  const badHeaders = fc.tuple(routeArb, fc.constantFrom<[string, string]>(
    ['authorization', 'Bearer'], ['authorization', 'Basic dXNlcjpwYXNz'], ['authorization', `Bearer ${MASTER_KEY}x`], ['authorization', 'Bearer allot_sk_\u00e9'],
    ['authorization', `bearer  ${'a'.repeat(4000)}`], ['authorization', `Bearer ${MASTER_KEY} ${MASTER_KEY}`], ['idempotency-key', 'k'.repeat(300)], ['idempotency-key', ''],
  )).filter(([{ route }]) => route.method !== 'GET')
    .map(([{ route, template }, [name, value]]): HostileRequest => ({
      method: route.method, path: buildPath(route.path, template.params),
      headers: { ...json, authorization: `Bearer ${MASTER_KEY}`, [name]: value }, body: template.body ? JSON.stringify(template.body) : undefined,
      why: `header ${name}: ${value.slice(0, 30)}`,
    }))
    // A valid request with an empty Idempotency-Key must still be refused: keep only those that cannot run.
    .filter((r) => r.headers.authorization !== `Bearer ${MASTER_KEY}` || r.headers['idempotency-key'] !== undefined);

  const unknownPath = fc.tuple(keyArb, fc.constantFrom('/', '/v1', '/v1/', '/v2/plans', '/v1/plans/', '/v1//plans', '/V1/PLANS', '/v1/plans/basic/archive/x', '/v1/usage/a/b',
    '/%2e%2e/%2e%2e/etc/passwd', '/v1/subscriptions/shop1', '/v1/reservations', '/.env', '/v1/plans%00', '/v1/plans?limit=1&limit=2'),
  fc.constantFrom('GET', 'POST', 'PUT', 'DELETE')).map(([key, path, method]): HostileRequest => ({
    method, path, headers: { ...json, authorization: `Bearer ${key}` }, body: method === 'GET' || method === 'DELETE' ? undefined : '{"plan_id":"basic"}', why: 'unknown path',
  })).filter((r) => !(r.method === 'GET' && (r.path.startsWith('/v1/plans?') || r.path === '/v1/plans/')));

  // Systematic: every body field of every route with every kind of value the SPEC forbids for it.
  const systematic: HostileRequest[] = [];
  for (const { route, template } of routes) {
    for (const field of Object.keys(template.body ?? {})) {
      const rule = SPEC_RULES[field];
      if (!rule) continue;
      for (const value of SYSTEMATIC_VALUES) {
        if (rule(value)) continue;
        systematic.push({
          method: route.method, path: withQuery(buildPath(route.path, template.params), template.query),
          headers: { ...json, authorization: `Bearer ${MASTER_KEY}` }, body: JSON.stringify({ ...template.body, [field]: value }),
          why: `systematic body.${field} = ${JSON.stringify(value).slice(0, 40)}`,
        });
      }
    }
  }

  const arb = fc.oneof(
    { arbitrary: asJson, weight: 6 }, { arbitrary: badPath, weight: 2 }, { arbitrary: badQuery, weight: 2 }, { arbitrary: rawBodies, weight: 2 },
    { arbitrary: badMedia, weight: 1 }, { arbitrary: wrongMethod, weight: 1 }, { arbitrary: badHeaders, weight: 1 }, { arbitrary: unknownPath, weight: 1 },
  );
  return [...systematic, ...fc.sample(arb, { seed: SEED, numRuns: REQUESTS })];
}

interface Answer {
  status: number;
  type: string;
  body: string;
}

function send(base: URL, agent: http.Agent, r: HostileRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = r.body === undefined ? r.headers : { ...r.headers, 'content-length': String(Buffer.byteLength(r.body)) };
    const req = http.request({ host: base.hostname, port: base.port, method: r.method, path: r.path, headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

/** Raw HTTP that no client library would send: lying lengths, broken framing. */
function sendRaw(base: URL, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(Number(base.port), base.hostname, () => socket.end(text));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => (answer += d));
    socket.on('close', () => resolve(answer));
    socket.on('error', () => resolve(answer));
    socket.setTimeout(5000, () => socket.destroy());
  });
}

for (const dialect of DIALECTS) {
  test(`${dialect}: ${REQUESTS} random and a systematic sweep of hostile requests at every route: never a 5xx, always a problem document, nothing changes`, async (t) => {
    const allot = await startAllot(dialect, { clock: '2026-03-01T00:00:00.000Z' });
    t.after(allot.close);
    await seedPlans(allot);
    const shopKey = await createShopKey(allot, 'shop1');
    for (const [method, path, body] of [
      ['PUT', '/v1/subscriptions/shop1/u1', { plan_id: 'basic' }],
      ['PUT', '/v1/subscriptions/shop1/u2', { plan_id: 'basic' }],
      ['POST', '/v1/subscriptions/shop1/u2/suspend', undefined],
      ['POST', '/v1/usage', { event_id: 'e1', shop_id: 'shop1', user_id: 'u1', tokens: 10 }],
      ['POST', '/v1/reservations', { reservation_id: 'r1', shop_id: 'shop1', user_id: 'u1', tokens: 10, ttl_seconds: 3600 }],
      ['PUT', '/v1/models/vendor%2Fm', { input_weight: 1, output_weight: 2 }],
      ['POST', '/v1/usage', { event_id: 'w1', shop_id: 'shop1', user_id: 'u1', input_tokens: 3, output_tokens: 1, model: 'vendor/m' }],
    ] as const) {
      const res = await allot.api(method, path, body);
      assert.ok(res.status < 300, `${method} ${path}: ${JSON.stringify(res.body)}`);
    }
    assert.deepEqual(Object.keys(templates).sort(), allRoutes.map((r) => `${r.method} ${r.path}`).sort(), 'every route has a fuzz template');

    const requests = hostileRequests(shopKey);
    const before = await fingerprint(allot.testDb.db);
    const base = new URL(allot.url);
    const agent = new http.Agent({ keepAlive: false, maxSockets: 8 });
    t.after(() => agent.destroy());
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < requests.length) {
        const r = requests[next++]!;
        let answer: Answer;
        try {
          answer = await send(base, agent, r);
        } catch (error) {
          failures.push(`no answer (${(error as Error).message}): ${r.method} ${r.path.slice(0, 120)} (${r.why}) body ${String(r.body?.length)}`);
          continue;
        }
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        const what = `${r.method} ${r.path.slice(0, 120)} (${r.why}) → ${answer.status} ${answer.body.slice(0, 200)}`;
        // A GET ignores any body it is sent, and unknown query parameters: it may succeed, it must not fail.
        const mayPass = r.method === 'GET' || r.method === 'HEAD';
        if (answer.status >= 500 || (answer.status < 400 && !mayPass)) failures.push(what);
        else if (answer.status < 400) continue;
        else if (r.method !== 'HEAD') {
          if (!answer.type.startsWith('application/problem+json')) failures.push(`not a problem document: ${what}`);
          else {
            const problem = JSON.parse(answer.body);
            if (problem.status !== answer.status || typeof problem.code !== 'string' || typeof problem.detail !== 'string' || /\n\s+at /.test(answer.body)) {
              failures.push(`bad problem document: ${what}`);
            }
          }
        }
      }
    }));
    assert.deepEqual(failures, [], `${failures.length} hostile requests were not refused cleanly`);
    for (const expected of [400, 401, 404, 413, 415]) assert.ok(statuses.has(expected), `the fuzzer never hit a ${expected}: ${JSON.stringify([...statuses])}`);

    for (const raw of [
      'POST /v1/usage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"event_id":"e9"',
      'POST /v1/usage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n',
      'POST /v1/usage HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{}{}{}',
      'GET /v1/plans HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \u0000\r\n\r\n',
      'GARBAGE\r\n\r\n',
      `GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    ]) {
      const answer = await sendRaw(base, raw);
      assert.doesNotMatch(answer, /^HTTP\/1\.1 5\d\d/, `raw request answered ${answer.slice(0, 80)}`);
    }

    assert.deepEqual(await fingerprint(allot.testDb.db), before, 'a hostile request changed the database');
    assert.deepEqual((await allot.api('GET', '/healthz', undefined, { key: null })).body, { status: 'ok' });
    assert.equal((await allot.api('GET', '/readyz', undefined, { key: null })).status, 200);
    const after = await allot.api('POST', '/v1/usage', { event_id: 'e2', shop_id: 'shop1', user_id: 'u1', tokens: 1 }, { key: shopKey });
    assert.equal(after.status, 200, 'the server still serves valid requests');
    assert.equal(after.body.used_tokens, 16); // 10 + w1's 3·1 + 1·2 + 1
    await assertVerified(allot.testDb.db);
  });
}
