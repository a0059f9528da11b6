/** The OpenAPI 3.1 document, generated from the same zod schemas that validate requests. */
import { z, type ZodType } from 'zod';
import { takesIdempotencyKey, type AnyRoute } from './route.ts';
import { problem } from './schemas.ts';

function jsonSchema(schema: ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  return rest;
}

function parameters(route: AnyRoute) {
  const out: unknown[] = [];
  const add = (schema: ZodType | undefined, where: 'path' | 'query') => {
    if (!schema) return;
    const json = jsonSchema(schema, 'input') as { properties?: Record<string, unknown>; required?: string[] };
    for (const [name, property] of Object.entries(json.properties ?? {})) {
      out.push({ name, in: where, required: where === 'path' || (json.required ?? []).includes(name), schema: property });
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

export function openApiDocument(routes: readonly AnyRoute[], version: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  const problemRef = { $ref: '#/components/schemas/Problem' };
  for (const route of routes) {
    const responses: Record<string, unknown> = {};
    for (const [status, spec] of Object.entries(route.responses)) {
      const isProblem = Number(status) >= 400;
      const schema = spec.schema ? jsonSchema(spec.schema, 'output') : isProblem ? problemRef : undefined;
      responses[status] = {
        description: spec.description,
        ...(schema ? { content: { [isProblem ? 'application/problem+json' : 'application/json']: { schema } } } : {}),
      };
    }
    const problemResponse = (description: string) => ({ description, content: { 'application/problem+json': { schema: problemRef } } });
    responses['400'] ??= problemResponse('validation_error or invalid_json');
    responses['401'] = problemResponse('unauthorized');
    if (route.adminOnly) responses['403'] = problemResponse('forbidden: needs an admin key');
    if (takesIdempotencyKey(route)) {
      const own = route.responses[409]?.description;
      responses['409'] = problemResponse(`${own ? `${own}; ` : ''}idempotency_conflict or idempotency_in_flight (Idempotency-Key)`);
    }
    if (takesBody(route)) {
      responses['413'] = problemResponse('payload_too_large: bodies are limited to 64 KiB');
      responses['415'] = problemResponse('unsupported_media_type: send Content-Type: application/json');
    }
    responses['503'] = problemResponse('service_unavailable');
    const operation: Record<string, unknown> = {
      summary: route.summary,
      tags: [route.tag],
      operationId: `${route.method.toLowerCase()}${route.path.replace(/[{}]/g, '').replace(/[/_-](\w)/g, (_m, c: string) => c.toUpperCase())}`,
      parameters: parameters(route),
      responses,
      security: [{ bearer: [] }],
    };
    if (route.body) {
      // A missing body is read as `{}`: a body that may be empty is optional.
      const required = !route.body.safeParse({}).success;
      operation.requestBody = { required, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } };
    }
    if (takesIdempotencyKey(route)) {
      (operation.parameters as unknown[]).push({
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        schema: { type: 'string', minLength: 1, maxLength: 255 },
        description: 'Replays the first answer for a repeat of the same request.',
      });
    }
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operation;
  }
  const open = (summary: string, content: string) => ({ get: { summary, security: [], tags: ['Operations'], responses: { 200: { description: 'OK', content: { [content]: {} } } } } });
  const unavailable = { description: 'service_unavailable', content: { 'application/problem+json': { schema: problemRef } } };
  paths['/healthz'] = { get: { summary: 'Alive (503 only when allot must restart)', security: [], tags: ['Operations'], responses: { 200: { description: 'Alive' }, 503: unavailable } } };
  paths['/readyz'] = { get: { summary: 'Database reachable', security: [], tags: ['Operations'], responses: { 200: { description: 'Ready' }, 503: unavailable } } };
  paths['/metrics'] = open('Prometheus metrics', 'text/plain');
  paths['/openapi.json'] = open('This document', 'application/json');
  paths['/docs'] = open('API reference page', 'text/html');
  return {
    openapi: '3.1.0',
    info: {
      title: 'allot',
      version,
      description: 'Token-allowance subscriptions for AI products: plans, metering, holds and calendar-correct periods.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Problem: jsonSchema(problem, 'output') },
    },
    paths,
  };
}

export function docsPage(document: ReturnType<typeof openApiDocument>): string {
  const escape = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  const rows = Object.entries(document.paths).flatMap(([path, ops]) =>
    Object.entries(ops as Record<string, { summary: string }>).map(
      ([method, op]) => `<tr><td class="m ${method}">${method.toUpperCase()}</td><td><code>${escape(path)}</code></td><td>${escape(op.summary)}</td></tr>`,
    ),
  );
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>allot API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}td{border-bottom:1px solid #eee;padding:.35rem .5rem;vertical-align:top}
.m{font-weight:600;font-family:monospace}.get{color:#0a7}.post{color:#06c}.put{color:#a60}.delete{color:#c22}</style></head>
<body><h1>allot API ${escape(document.info.version)}</h1><p>${escape(document.info.description)}
The machine-readable contract is <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Authenticate with
<code>Authorization: Bearer &lt;key&gt;</code>; errors are <code>application/problem+json</code> with a stable <code>code</code>.</p>
<table>${rows.join('\n')}</table></body></html>`;
}
