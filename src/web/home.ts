/**
 * `GET /`: a page of links to the dashboard, the API reference and the
 * OpenAPI document (JSON for a client that does not ask for HTML), and the
 * site's icon at `/favicon.ico`.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const read = (file: string) => readFileSync(new URL(`./home/${file}`, import.meta.url));

const securityHeaders = {
  'content-security-policy': "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
};

export function registerHome(app: FastifyInstance, version: string): void {
  const page = read('index.html');
  const css = read('home.css');
  const icon = read('favicon.svg');
  const links = { dashboard: '/dashboard', docs: '/docs', openapi: '/openapi.json', health: '/healthz', ready: '/readyz', metrics: '/metrics' };
  app.get('/', async (request, reply) => {
    if (!(request.headers.accept ?? '').includes('text/html')) return reply.header('cache-control', 'no-cache').send({ name: 'allot', version, links });
    return reply.headers(securityHeaders).type('text/html; charset=utf-8').send(page);
  });
  app.get('/home.css', async (_request, reply) => reply.headers(securityHeaders).type('text/css; charset=utf-8').send(css));
  // An SVG under the name browsers ask for: they go by its content type.
  app.get('/favicon.ico', async (_request, reply) =>
    reply.headers({ ...securityHeaders, 'cache-control': 'public, max-age=86400' }).type('image/svg+xml').send(icon));
}
