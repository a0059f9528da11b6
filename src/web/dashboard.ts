/**
 * The operator dashboard: static files under `/dashboard`, served without a
 * key. The page asks for an API key, then reads and acts through the `/v1` API.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const assets = [
  { url: '/dashboard', file: 'index.html', type: 'text/html; charset=utf-8' },
  { url: '/dashboard/app.js', file: 'app.js', type: 'text/javascript; charset=utf-8' },
  { url: '/dashboard/app.css', file: 'app.css', type: 'text/css; charset=utf-8' },
] as const;

// connect-src allows other origins because the page lets the operator point it at another allot server.
const securityHeaders = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' http: https:; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
};

export function registerDashboard(app: FastifyInstance): void {
  for (const asset of assets) {
    const body = readFileSync(new URL(`./public/${asset.file}`, import.meta.url), 'utf8');
    app.get(asset.url, async (_request, reply) => reply.headers(securityHeaders).type(asset.type).send(body));
  }
  app.get('/dashboard/', async (_request, reply) => reply.redirect('/dashboard', 301));
}
