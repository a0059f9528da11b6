/**
 * The HTTP API: Fastify with one JSON parser, one error mapper, bearer auth,
 * Idempotency-Key handling and the routes of `routes/`.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { z, type ZodType } from 'zod';
import { AllotError, validationError } from '../domain/errors.ts';
import { Keyring, type Caller } from '../service/api-keys.ts';
import type { Services } from '../service/context.ts';
import { contentHash, sha256 } from '../service/hash.ts';
import { IdempotencyKeys } from '../service/idempotency.ts';
import { VERSION } from '../version.ts';
import { cors } from './cors.ts';
import { Metrics } from './metrics.ts';
import { openApiDocument } from './openapi.ts';
import { clientErrorResponse, problemOf, toAllotError, zodFieldErrors } from './problem.ts';
import { takesIdempotencyKey, type AnyRoute, type Reply } from './route.ts';
import { pathToUnstorable } from './schemas.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { modelRoutes } from './routes/models.ts';
import { operationRoutes } from './routes/operations.ts';
import { shopRoutes } from './routes/shops.ts';
import { planRoutes } from './routes/plans.ts';
import { reservationRoutes } from './routes/reservations.ts';
import { subscriptionRoutes } from './routes/subscriptions.ts';
import { usageRoutes } from './routes/usage.ts';
import { registerDashboard } from '../web/dashboard.ts';
import { registerDocs } from '../web/docs.ts';
import { registerHome } from '../web/home.ts';

export { VERSION };
export const BODY_LIMIT = 64 * 1024;
const MAX_PARAM_LENGTH = 16 * 1024;

export const allRoutes: readonly AnyRoute[] = [
  ...planRoutes,
  ...subscriptionRoutes,
  ...usageRoutes,
  ...reservationRoutes,
  ...apiKeyRoutes,
  ...operationRoutes,
  ...shopRoutes,
  ...modelRoutes,
];

const emptyBody = z.object({}).strict();
const idempotencyKey = z.string().min(1).max(255);

export interface ServerOptions {
  services: Services;
  masterKey?: string | undefined;
  logLevel?: string;
  /** Where logs go instead of stdout (tests capture them). */
  logStream?: NodeJS.WritableStream;
  /** Browser origins that may call this API (CORS); none by default. */
  corsOrigins?: readonly string[];
}

function parse<T>(schema: ZodType<T>, value: unknown, prefix: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(zodFieldErrors(result.error, prefix));
  return result.data;
}

function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

function sendProblem(reply: FastifyReply, error: AllotError): FastifyReply {
  const body = Object.assign(problemOf(error), { instance: reply.request.url.split('?')[0], request_id: reply.request.id });
  if (error.code === 'quota_exceeded' && typeof error.extra?.retry_after_seconds === 'number') {
    reply.header('retry-after', String(error.extra.retry_after_seconds));
  }
  return reply.code(error.status).type('application/problem+json').send(body);
}

export function buildServer(options: ServerOptions): FastifyInstance {
  const { services } = options;
  const keyring = new Keyring(services, options.masterKey ? sha256(options.masterKey) : null);
  const idempotencyKeys = new IdempotencyKeys(services);
  const metrics = new Metrics();
  const document = openApiDocument(allRoutes, VERSION);
  const documentJson = JSON.stringify(document);

  const app = Fastify({
    logger: {
      level: options.logLevel ?? 'info',
      redact: ['req.headers.authorization', 'req.headers["idempotency-key"]'],
      ...(options.logStream ? { stream: options.logStream } : {}),
    },
    bodyLimit: BODY_LIMIT,
    // Longer than any request line Node reads (16 KiB of headers): a too-long id reaches its schema, which names it.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // Requests that arrive while closing get allot's own problem document instead (the onRequest hook below).
    return503OnClosing: false,
    clientErrorHandler: (error: Error & { code?: string }, socket) => {
      // With an answer still owed on this connection, bytes written now could be read as that answer.
      const owesAnswer = (socket as { _httpMessage?: unknown })._httpMessage != null;
      if (error.code === 'ECONNRESET' || !socket.writable || owesAnswer) return socket.destroy();
      socket.end(clientErrorResponse(error));
    },
    // A URL that cannot be decoded (`%zz`, overlong UTF-8) or routed is a client's mistake like any other.
    frameworkErrors: (error, _request, reply) => {
      const message = error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? `a path segment is longer than ${MAX_PARAM_LENGTH} characters`
        : 'the URL is not validly percent-encoded';
      return sendProblem(reply, validationError([{ path: '', message }]));
    },
    forceCloseConnections: 'idle',
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return done(new AllotError('invalid_json', 'The body is not valid JSON.'), undefined);
    }
    const unstorable = pathToUnstorable(text, parsed);
    if (unstorable !== undefined) {
      const error = { path: unstorable, message: 'must not contain the NUL character (\\u0000) or a lone surrogate (\\ud800–\\udfff)' };
      return done(validationError([error]), undefined);
    }
    done(null, parsed);
  });

  // Draining (app.close() began): a request that still arrives, pipelined or on a connection busy until now,
  // is refused with a problem document, and every answer closes its connection, so no keep-alive socket
  // holds the shutdown until its timeout.
  let draining = false;
  app.addHook('preClose', (done) => {
    draining = true;
    done();
  });
  // Callback-style hooks: no promise per request on the hot path.
  app.addHook('onRequest', (_request, reply, done) => {
    if (!draining) return done();
    reply.header('retry-after', '1');
    sendProblem(reply, new AllotError('service_unavailable', 'This server is shutting down: retry the request.'));
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    if (draining) reply.header('connection', 'close');
    done(null, payload);
  });
  if (options.corsOrigins?.length) {
    const allowed = cors(options.corsOrigins);
    app.addHook('onRequest', (request, reply, done) => {
      if (!allowed.preflight(request, reply)) done();
    });
    app.addHook('onSend', (request, reply, payload, done) => {
      allowed.allow(request, reply);
      done(null, payload);
    });
  }

  // The level is fixed for the server's life: answers logged at info cost nothing at warn.
  const logsAnswers = ['trace', 'debug', 'info'].includes(options.logLevel ?? 'info');
  /** Counts and logs an answer under its route's template (`unmatched` when no route matched). */
  const answered = (request: FastifyRequest, reply: FastifyReply, template: string) => {
    metrics.observe(request.method, template, reply.statusCode, reply.elapsedTime / 1000);
    const level = reply.statusCode >= 500 ? 'error' : 'info';
    if (level === 'info' && !logsAnswers) return;
    request.log[level]({ method: request.method, route: template, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100 }, 'request');
  };
  // Each route gets an onResponse hook that knows its template: `request.routeOptions` builds a new object on every read.
  app.addHook('onRoute', (routeOptions) => {
    const template = routeOptions.url ?? 'unmatched';
    const hooks = routeOptions.onResponse;
    routeOptions.onResponse = [...(hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks]), (request, reply, done) => {
      answered(request, reply, template);
      done();
    }];
  });
  app.addHook('onResponse', (request, reply, done) => {
    // Routed requests are observed by their route's own hook.
    if (request.is404) answered(request, reply, 'unmatched');
    done();
  });

  app.setErrorHandler((error, request, reply) => {
    const allot = toAllotError(error);
    if (allot.status >= 500) request.log.error({ err: error }, 'request failed');
    return sendProblem(reply, allot);
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, new AllotError('not_found', `No route ${request.method} ${request.url.split('?')[0]}.`)),
  );

  // Alive unless the store failed in a way only a restart recovers from: then a liveness probe should restart allot.
  app.get('/healthz', async (_request, reply) => {
    const fatal = services.db.fatalError?.();
    if (fatal) return sendProblem(reply, new AllotError('service_unavailable', `${fatal.message}.`));
    return { status: 'ok' };
  });
  app.get('/readyz', async (_request, reply) => {
    try {
      await services.db.ping();
      return { status: 'ready', database: services.db.dialect };
    } catch {
      return sendProblem(reply, new AllotError('service_unavailable', 'The database is not reachable.'));
    }
  });
  app.get('/metrics', async (_request, reply) => reply.type('text/plain; version=0.0.4').send(metrics.render()));
  app.get('/openapi.json', async (_request, reply) => reply.type('application/json').send(documentJson));
  registerDocs(app);
  registerHome(app, VERSION);
  registerDashboard(app);

  for (const route of allRoutes) {
    const url = route.path.replace(/\{(\w+)\}/g, ':$1');
    const takesKey = takesIdempotencyKey(route);
    app.route({
      method: route.method,
      url,
      handler: async (request, reply) => {
        const caller = await keyring.authenticate(bearer(request));
        try {
          return await handle(route, takesKey, request, reply, caller, idempotencyKeys);
        } catch (error) {
          // A revoked key is answered 401, whatever else was wrong with the request.
          await caller.confirm();
          throw error;
        }
      },
    });
  }

  return app;
}

/**
 * Runs one route for an authenticated caller, with its Idempotency-Key when it
 * sent one: then the key, the work and the answer commit together (see
 * `IdempotencyKeys`).
 */
async function handle(
  route: AnyRoute,
  takesKey: boolean,
  request: FastifyRequest,
  reply: FastifyReply,
  caller: Caller,
  keys: IdempotencyKeys,
): Promise<FastifyReply> {
  const { scope, services } = caller;
  const params = route.params ? parse(route.params, request.params, '') : undefined;
  const query = route.query ? parse(route.query, request.query ?? {}, '') : undefined;
  const rawBody = request.body;
  const body = route.body
    ? (route.accepts?.(rawBody) ?? parse(route.body, rawBody ?? {}, ''))
    : rawBody === undefined
      ? undefined
      : parse(emptyBody, rawBody, '');
  const input = { body, query, params, scope, services };

  const keyHeader = takesKey ? request.headers['idempotency-key'] : undefined;
  if (keyHeader === undefined) {
    const result = await route.handler(input);
    await caller.confirm();
    return send(reply, result);
  }
  const key = parse(idempotencyKey, Array.isArray(keyHeader) ? keyHeader.join(',') : keyHeader, 'Idempotency-Key');
  const hash = contentHash({ method: route.method, url: request.url, body: rawBody ?? null });
  const { answer, replayed } = await keys.once(services, { scope: scope.idempotencyScope, key, hash }, {
    ownTransactions: route.ownTransactions,
    run: async (inTransaction) => {
      const result = await route.handler({ ...input, services: inTransaction });
      return { status: result.status, body: JSON.stringify(result.body), headers: result.headers };
    },
    refusal: (error) => {
      const allot = toAllotError(error);
      if (!storable(allot.status)) return undefined;
      // The same document sendProblem answers now, so a replay is identical to it.
      const problemBody = Object.assign(problemOf(allot), { instance: request.url.split('?')[0], request_id: request.id });
      return { status: allot.status, body: JSON.stringify(problemBody) };
    },
  });
  await caller.confirm();
  if (replayed) reply.header('idempotent-replayed', 'true');
  if (answer.headers) reply.headers(answer.headers);
  return reply.code(answer.status).type(answer.status >= 400 ? 'application/problem+json' : 'application/json').send(answer.body);
}

/** Answers worth replaying: successes and final refusals; not validation, throttling, conflicts of state, or failures. */
function storable(status: number): boolean {
  return status < 400 || status === 403 || status === 404 || status === 422;
}

function send(reply: FastifyReply, result: Reply): FastifyReply {
  if (result.headers) reply.headers(result.headers);
  return reply.code(result.status).send(result.body);
}
