/**
 * The API reference at `/docs`: Swagger UI, served from the files of its npm
 * package (`swagger-ui-dist`), rendering this server's `/openapi.json`. No
 * asset comes from another origin.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';

const swaggerUiDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const ownDir = new URL('./docs/', import.meta.url);

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

const assets = [
  { url: '/docs', path: new URL('index.html', ownDir), type: 'text/html; charset=utf-8' },
  { url: '/docs/docs.js', path: new URL('docs.js', ownDir), type: JS },
  { url: '/docs/docs.css', path: new URL('docs.css', ownDir), type: CSS },
  { url: '/docs/swagger-ui-bundle.js', path: join(swaggerUiDir, 'swagger-ui-bundle.js'), type: JS },
  { url: '/docs/swagger-ui-bundle.js.map', path: join(swaggerUiDir, 'swagger-ui-bundle.js.map'), type: 'application/json' },
  { url: '/docs/swagger-ui.css', path: join(swaggerUiDir, 'swagger-ui.css'), type: CSS },
  { url: '/docs/swagger-ui.css.map', path: join(swaggerUiDir, 'swagger-ui.css.map'), type: 'application/json' },
] as const;

/**
 * Scripts and styles only from this origin, none inline, no eval: Swagger UI
 * sets the styles it computes through the DOM, which a CSP allows, and needs
 * no 'unsafe-inline'. `connect-src 'self'` lets the page read /openapi.json
 * and send "Try it out" requests to this server only; `data:` images are the
 * icons inside swagger-ui.css.
 */
const securityHeaders = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** Files are read once, on their first request: the bundle is 2 MB that most servers never send. */
const cache = new Map<string, Buffer>();

export function registerDocs(app: FastifyInstance): void {
  for (const asset of assets) {
    const key = String(asset.path);
    const cacheControl = asset.path instanceof URL ? 'no-cache' : 'public, max-age=3600';
    app.get(asset.url, async (_request, reply) => {
      let body = cache.get(key);
      if (!body) cache.set(key, (body = readFileSync(asset.path)));
      return reply.headers({ ...securityHeaders, 'cache-control': cacheControl }).type(asset.type).send(body);
    });
  }
  app.get('/docs/', async (_request, reply) => reply.redirect('/docs', 301));
}
