/**
 * CORS for the origins an operator lists (`ALLOT_CORS_ORIGINS`), so a
 * dashboard served by one allot can read another. Only exact origins match;
 * a request from any other origin gets no CORS header at all, and the
 * browser keeps its answer from the page. Keys travel in `Authorization`,
 * never in cookies, so credentials are not allowed.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

const ALLOWED_METHODS = 'GET, POST, PUT, PATCH, DELETE';
const ALLOWED_HEADERS = 'Authorization, Content-Type, Idempotency-Key';
const EXPOSED_HEADERS = 'Retry-After, Idempotent-Replayed, X-Request-Id';
const PREFLIGHT_MAX_AGE_SECONDS = '600';

export interface Cors {
  /** Answers a preflight from a listed origin (204); false when `request` is not one. */
  preflight(request: FastifyRequest, reply: FastifyReply): boolean;
  /** Marks an answer to a listed origin as readable by it. */
  allow(request: FastifyRequest, reply: FastifyReply): void;
}

export function cors(origins: readonly string[]): Cors {
  const listed = new Set(origins);
  const allowedOrigin = (request: FastifyRequest): string | undefined => {
    const origin = request.headers.origin;
    return origin !== undefined && listed.has(origin) ? origin : undefined;
  };
  return {
    preflight(request, reply) {
      if (request.method !== 'OPTIONS' || request.headers['access-control-request-method'] === undefined) return false;
      const origin = allowedOrigin(request);
      if (origin === undefined) return false;
      reply.code(204).headers({
        'access-control-allow-origin': origin,
        'access-control-allow-methods': ALLOWED_METHODS,
        'access-control-allow-headers': ALLOWED_HEADERS,
        'access-control-max-age': PREFLIGHT_MAX_AGE_SECONDS,
        vary: 'Origin',
      }).send();
      return true;
    },
    allow(request, reply) {
      const origin = allowedOrigin(request);
      // The answer depends on Origin whenever one is sent: caches must keep them apart.
      if (request.headers.origin !== undefined) reply.header('vary', 'Origin');
      if (origin === undefined) return;
      reply.header('access-control-allow-origin', origin);
      reply.header('access-control-expose-headers', EXPOSED_HEADERS);
    },
  };
}
