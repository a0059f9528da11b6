/**
 * The pages a browser opens without a key: the API reference at /docs (its
 * renderer served from this server, under a CSP that allows no inline or
 * foreign script), the front page at / and the icon; on both dialects.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIALECTS } from '../support/dialects.ts';
import { startAllot } from '../support/harness.ts';

/** A CSP as a map of directive → sources. */
function policy(header: string | null): Map<string, string[]> {
  assert.ok(header, 'a Content-Security-Policy is sent');
  return new Map(header.split(';').map((part) => part.trim().split(/\s+/)).filter((words) => words[0]).map(([name, ...sources]) => [name!, sources]));
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

for (const dialect of DIALECTS) {
  test(`${dialect}: docs — /docs renders /openapi.json with assets served by allot, under a strict CSP`, async (t) => {
    const allot = await startAllot(dialect);
    t.after(allot.close);
    const page = await get(`${allot.url}/docs`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    const html = page.body.toString('utf8');
    const csp = policy(page.headers.get('content-security-policy'));
    assert.deepEqual(csp.get('default-src'), ["'none'"]);
    assert.deepEqual(csp.get('script-src'), ["'self'"], 'no inline script, no eval, no other origin');
    assert.deepEqual(csp.get('connect-src'), ["'self'"], 'the page talks to this server only');
    assert.deepEqual(csp.get('style-src'), ["'self'"], 'no inline style either');
    assert.deepEqual(csp.get('frame-ancestors'), ["'none'"]);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script is a file');
    assert.doesNotMatch(html, /\b(src|href)="(https?:)?\/\//, 'nothing from another origin');

    // Every asset the page names is served here, with its type and the same CSP.
    const assets = [...html.matchAll(/\b(?:src|href)="(\/docs\/[^"]+)"/g)].map((m) => m[1]!);
    assert.deepEqual(assets.sort(), ['/docs/docs.css', '/docs/docs.js', '/docs/swagger-ui-bundle.js', '/docs/swagger-ui.css']);
    const types: Record<string, RegExp> = { js: /^text\/javascript; charset=utf-8$/, css: /^text\/css; charset=utf-8$/ };
    for (const asset of assets) {
      const res = await get(`${allot.url}${asset}`);
      assert.equal(res.status, 200, asset);
      assert.match(res.headers.get('content-type') ?? '', types[asset.split('.').pop()!]!, asset);
      assert.equal(res.headers.get('content-security-policy'), page.headers.get('content-security-policy'), asset);
      assert.ok(res.body.length > 0, asset);
    }
    const bundle = (await get(`${allot.url}/docs/swagger-ui-bundle.js`)).body.toString('utf8');
    assert.match(bundle, /SwaggerUIBundle/, 'the renderer itself, from its npm package');
    assert.ok(bundle.length > 500_000, 'the whole bundle');
    const init = (await get(`${allot.url}/docs/docs.js`)).body.toString('utf8');
    assert.match(init, /url: '\/openapi\.json'/, 'the page renders this server\'s document');
    assert.match(init, /validatorUrl: null/, 'no request to a public validator');

    const slash = await fetch(`${allot.url}/docs/`, { redirect: 'manual' });
    assert.equal(slash.status, 301);
    assert.equal(slash.headers.get('location'), '/docs');
    assert.equal((await get(`${allot.url}/docs/nope.js`)).status, 404);
  });

  test(`${dialect}: docs — GET / links the dashboard, the reference and the document; /favicon.ico is an icon`, async (t) => {
    const allot = await startAllot(dialect);
    t.after(allot.close);
    const page = await get(`${allot.url}/`, { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' });
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    const html = page.body.toString('utf8');
    for (const link of ['/dashboard', '/docs', '/openapi.json']) assert.match(html, new RegExp(`href="${link.replace('.', '\\.')}"`), link);
    const csp = policy(page.headers.get('content-security-policy'));
    assert.equal(csp.get('script-src'), undefined, 'no script at all (default-src none)');
    assert.deepEqual(csp.get('default-src'), ["'none'"]);
    const css = await get(`${allot.url}/home.css`);
    assert.equal(css.status, 200);
    assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');

    // A client that does not ask for HTML gets the same links as JSON.
    const json = await allot.api('GET', '/', undefined, { key: null });
    assert.equal(json.status, 200);
    assert.match(json.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(json.body.name, 'allot');
    assert.equal(typeof json.body.version, 'string');
    assert.deepEqual({ dashboard: json.body.links.dashboard, docs: json.body.links.docs, openapi: json.body.links.openapi }, {
      dashboard: '/dashboard', docs: '/docs', openapi: '/openapi.json',
    });
    for (const link of Object.values(json.body.links) as string[]) assert.equal((await fetch(`${allot.url}${link}`)).status, 200, link);

    const icon = await get(`${allot.url}/favicon.ico`);
    assert.equal(icon.status, 200);
    assert.equal(icon.headers.get('content-type'), 'image/svg+xml');
    assert.match(icon.body.toString('utf8'), /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  });
}
