/**
 * The OpenAPI 3.1 document, generated from the same zod schemas that validate
 * requests. A schema named with `.meta({ id })` becomes a component of that
 * name, referenced wherever it is used, so generated clients get its name.
 */
import { z, type ZodType } from 'zod';
import { AllotError, errorCatalogue, validationError, type ErrorCode } from '../domain/errors.ts';
import { problemOf } from './problem.ts';
import { takesIdempotencyKey, type AnyRoute } from './route.ts';
import { problem } from './schemas.ts';

type JsonSchema = Record<string, unknown>;
type Io = 'input' | 'output';

const COMPONENTS = '#/components/schemas/';
const PROBLEM_REF = { $ref: `${COMPONENTS}Problem` };

/** `z.number().int()` bounds every integer to the safe range: true of every JSON number allot sends, and noise in a reference. */
function withoutSafeIntegerBounds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSafeIntegerBounds);
  if (value === null || typeof value !== 'object') return value;
  const out: JsonSchema = {};
  for (const [key, member] of Object.entries(value)) {
    if ((key === 'minimum' && member === Number.MIN_SAFE_INTEGER) || (key === 'maximum' && member === Number.MAX_SAFE_INTEGER)) continue;
    out[key] = withoutSafeIntegerBounds(member);
  }
  return out;
}

function withoutDialect(schema: JsonSchema): JsonSchema {
  const { $schema: _dialect, $id: _id, ...rest } = schema;
  return withoutSafeIntegerBounds(rest) as JsonSchema;
}

function jsonSchema(schema: ZodType, io: Io): JsonSchema {
  return withoutDialect(z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema);
}

/** The name given to `schema` with `.meta({ id })`, if any. */
function nameOf(schema: ZodType): string | undefined {
  const id: unknown = z.globalRegistry.get(schema)?.id;
  return typeof id === 'string' ? id : undefined;
}

function componentsReferredToIn(value: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const item of value) componentsReferredToIn(item, found);
  else if (value !== null && typeof value === 'object') {
    for (const [key, member] of Object.entries(value)) {
      if (key === '$ref' && typeof member === 'string' && member.startsWith(COMPONENTS)) found.add(member.slice(COMPONENTS.length));
      else componentsReferredToIn(member, found);
    }
  }
  return found;
}

/**
 * The named schemas the document uses. A request body is read as its input
 * (before defaults and transforms), an answer as its output; one name must
 * read the same both ways.
 */
class Components {
  readonly schemas: Record<string, JsonSchema> = {};
  readonly #named: Partial<Record<Io, Record<string, JsonSchema>>> = {};
  /** Examples by name: zod leaves them out of a request schema that transforms its input, as they show the parsed value. */
  readonly #examples: Record<string, unknown[]> = {};

  /** A `$ref` to `schema`'s component (added with the components it refers to), or the schema inline when it has no name. */
  use(schema: ZodType, io: Io): JsonSchema {
    const name = nameOf(schema);
    if (name === undefined) return jsonSchema(schema, io);
    const examples: unknown = z.globalRegistry.get(schema)?.examples;
    if (Array.isArray(examples)) this.#examples[name] = examples;
    this.#add(name, io);
    return { $ref: `${COMPONENTS}${name}` };
  }

  #add(name: string, io: Io): void {
    const named = (this.#named[io] ??= (
      z.toJSONSchema(z.globalRegistry, { io, unrepresentable: 'any', target: 'draft-2020-12', uri: (id) => `${COMPONENTS}${id}` }) as { schemas: Record<string, JsonSchema> }
    ).schemas);
    const found = named[name];
    if (!found) throw new Error(`No schema is named ${name}.`);
    const examples = this.#examples[name];
    const schema = found.examples === undefined && examples ? { ...withoutDialect(found), examples } : withoutDialect(found);
    const known = this.schemas[name];
    if (known) {
      if (JSON.stringify(known) !== JSON.stringify(schema)) throw new Error(`Schema ${name} reads differently as a request and as an answer: name each reading.`);
      return;
    }
    this.schemas[name] = schema;
    for (const referred of componentsReferredToIn(schema)) this.#add(referred, io);
  }
}

function parameters(route: AnyRoute) {
  const out: JsonSchema[] = [];
  const add = (schema: ZodType | undefined, where: 'path' | 'query') => {
    if (!schema) return;
    const json = jsonSchema(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, property] of Object.entries(json.properties ?? {})) {
      const required = where === 'path' || (json.required ?? []).includes(name);
      out.push({ name, in: where, required, ...(property.description ? { description: property.description } : {}), schema: property });
    }
  };
  add(route.params, 'path');
  add(route.query, 'query');
  return out;
}

/** Methods whose bodies the server reads (even routes that want none): too large → 413, not JSON → 415. */
function takesBody(route: AnyRoute): boolean {
  return route.method !== 'GET';
}

/** What a problem document with `code` looks like, for the reference's examples. */
function exampleProblem(code: ErrorCode, detail: string) {
  const error = code === 'validation_error'
    ? validationError([{ path: 'tokens', message: 'must be at least 0' }])
    : new AllotError(code, `${detail}.`, code === 'quota_exceeded' ? { extra: { retry_after_seconds: 1382400, remaining_tokens: 2000 } } : {});
  return problemOf(error);
}

/**
 * An error answer: a problem document whose `code` is one of `codes`, listed
 * in its description too (what the rendered reference shows).
 */
function problemResponse(status: number, description: string, codes: readonly ErrorCode[]) {
  for (const code of codes) {
    if (errorCatalogue[code].status !== status) throw new Error(`Error code ${code} is answered with ${errorCatalogue[code].status}, not ${status}.`);
  }
  const schema = codes.length === 0
    ? PROBLEM_REF
    : { allOf: [PROBLEM_REF, { type: 'object', properties: { code: { type: 'string', enum: [...new Set(codes)], description: 'One of the codes of this answer.' } } }] };
  const listed = codes.length === 0 ? '' : ` (\`code\`: ${[...new Set(codes)].map((code) => `\`${code}\``).join(', ')})`;
  const example = codes[0] === undefined ? {} : { example: exampleProblem(codes[0], description) };
  return { description: `${description}${listed}`, content: { 'application/problem+json': { schema, ...example } } };
}

const retryAfter = {
  'Retry-After': {
    description: 'Seconds until the current period ends and the allowance refills (also in `retry_after_seconds`). Absent when no wait would make the request fit.',
    required: false,
    schema: { type: 'integer', minimum: 1 },
  },
};

/** What the errors every route of a kind may answer mean, when the route says nothing more. */
const commonErrors: Record<number, string> = {
  400: 'The request is not valid: `errors` lists each bad field',
  401: 'No API key, or one that is not valid or was revoked',
  403: 'The route needs an admin key',
  409: 'A conflict with the current state, or with an earlier request of the same Idempotency-Key',
  413: 'The body is larger than 64 KiB',
  415: 'The body is not sent as `Content-Type: application/json`',
  503: 'The database is unavailable; retry shortly',
};

function responsesOf(route: AnyRoute, components: Components): Record<number, unknown> {
  const responses: Record<number, { description: string; headers?: unknown }> = {};
  for (const [key, spec] of Object.entries(route.responses)) {
    if (Number(key) >= 400) continue;
    responses[Number(key)] = {
      description: spec.description,
      ...(spec.schema ? { content: { 'application/json': { schema: components.use(spec.schema, 'output') } } } : {}),
    };
  }
  // The codes the server's own checks answer for a route of this kind, before its handler runs.
  const common: Partial<Record<number, readonly ErrorCode[]>> = {
    400: takesBody(route) ? ['validation_error', 'invalid_json'] : ['validation_error'],
    401: ['unauthorized'],
    ...(route.adminOnly ? { 403: ['forbidden'] } : {}),
    ...(takesIdempotencyKey(route) ? { 409: ['idempotency_conflict', 'idempotency_in_flight'] } : {}),
    ...(takesBody(route) ? { 413: ['payload_too_large'], 415: ['unsupported_media_type'] } : {}),
    503: ['service_unavailable'],
  };
  const statuses = new Set([...Object.keys(common), ...Object.keys(route.responses)].map(Number).filter((status) => status >= 400));
  for (const status of statuses) {
    const own = route.responses[status];
    responses[status] = problemResponse(status, own?.description ?? commonErrors[status]!, [...(common[status] ?? []), ...(own?.codes ?? [])]);
  }
  if (responses[429]) responses[429].headers = retryAfter;
  return responses;
}

function operationOf(route: AnyRoute, components: Components): JsonSchema {
  const operation: JsonSchema = {
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
    parameters: parameters(route),
    responses: responsesOf(route, components),
    security: [{ bearer: [] }],
  };
  if (route.body) {
    // A missing body is read as `{}`: a body that may be empty is optional.
    const required = !route.body.safeParse({}).success;
    const examples: unknown = z.globalRegistry.get(route.body)?.examples;
    const example = Array.isArray(examples) && examples.length > 0 ? { example: examples[0] } : {};
    operation.requestBody = { required, content: { 'application/json': { schema: components.use(route.body, 'input'), ...example } } };
  }
  if (takesIdempotencyKey(route)) {
    (operation.parameters as unknown[]).push({
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      schema: { type: 'string', minLength: 1, maxLength: 255 },
      description: 'Replays the first answer (with `Idempotent-Replayed: true`) for a repeat of the same request; the same key with another body is a 409. Kept at least 24 hours.',
    });
  }
  return operation;
}

const tags = [
  { name: 'Plans', description: 'What is sold: an allowance of tokens per period, a price and a billing cycle. Plans never change once made.' },
  { name: 'Subscriptions', description: 'At most one live subscription per (shop_id, user_id), with calendar-correct periods, status analytics and period history.' },
  { name: 'Usage', description: 'Metering: every event counts exactly once per (shop_id, event_id).' },
  { name: 'Reservations', description: 'Hold tokens before an LLM call, then commit what was spent or release the hold.' },
  { name: 'API keys', description: 'Admin keys see every shop; a shop key sees only its own shop.' },
  { name: 'Operations', description: 'Health, metrics, renewals and the test clock.' },
];

const description = `Token-allowance subscriptions for AI products: plans, metering, holds and calendar-correct periods.

**Authentication.** Send \`Authorization: Bearer <key>\`: the server's \`ALLOT_MASTER_KEY\` or a key made with \`POST /v1/api-keys\`. A shop key sees only its own shop: another shop's resources answer 404, admin-only routes 403.

**Conventions.** JSON in and out with snake_case fields. Instants are RFC 3339 UTC with milliseconds (\`2026-01-31T10:00:00.000Z\`), days \`YYYY-MM-DD\` in UTC. Money is integer minor units (\`price_minor: 2999\` is 29.99) beside an ISO 4217 \`currency\`. Token counts are integers from 0 to 10^12. Bodies are at most 64 KiB; unknown fields are refused.

**Errors.** Every error is an RFC 9457 \`application/problem+json\` document with a stable \`code\`; each answer below lists the codes it can carry. A 400 lists every bad field in \`errors\`.

**Retries.** A POST or PUT with an \`Idempotency-Key\` header runs once; a repeat replays the first answer. \`POST /v1/usage\` is idempotent by its \`event_id\` without a header.

**Lists.** \`?limit=\` (1–100, default 20) and \`?cursor=\`; each answer is \`{ data, next_cursor }\`, \`next_cursor\` being null on the last page.`;

export type OpenApiDocument = ReturnType<typeof buildDocument>;

/** Built once per list of routes: every server of a process shares it. */
const built = new WeakMap<readonly AnyRoute[], Map<string, OpenApiDocument>>();

export function openApiDocument(routes: readonly AnyRoute[], version: string): OpenApiDocument {
  const byVersion = built.get(routes) ?? new Map<string, OpenApiDocument>();
  built.set(routes, byVersion);
  let document = byVersion.get(version);
  if (!document) byVersion.set(version, (document = buildDocument(routes, version)));
  return document;
}

function buildDocument(routes: readonly AnyRoute[], version: string) {
  const components = new Components();
  components.use(problem, 'output');
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) (paths[route.path] ??= {})[route.method.toLowerCase()] = operationOf(route, components);

  const unavailable = problemResponse(503, 'The database is unavailable', ['service_unavailable']);
  const open = (operationId: string, summary: string, content: string) => ({
    get: { operationId, summary, security: [], tags: ['Operations'], responses: { 200: { description: 'OK', content: { [content]: {} } } } },
  });
  paths['/healthz'] = {
    get: { operationId: 'getHealth', summary: 'Alive (503 only when allot must restart)', security: [], tags: ['Operations'], responses: { 200: { description: 'Alive' }, 503: unavailable } },
  };
  paths['/readyz'] = {
    get: { operationId: 'getReadiness', summary: 'Database reachable', security: [], tags: ['Operations'], responses: { 200: { description: 'Ready' }, 503: unavailable } },
  };
  paths['/metrics'] = open('getMetrics', 'Prometheus metrics', 'text/plain');
  paths['/openapi.json'] = open('getOpenApiDocument', 'This document', 'application/json');
  paths['/docs'] = open('getApiReference', 'This reference, rendered', 'text/html');
  return {
    openapi: '3.1.0',
    info: { title: 'allot', version, description },
    servers: [{ url: '/' }],
    tags,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API key: `ALLOT_MASTER_KEY`, or one from `POST /v1/api-keys`.' } },
      schemas: components.schemas,
    },
    paths,
  };
}
