import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { MASTER_KEY, seedPlans, startAllot, type Allot } from '../support/harness.ts';

const SHOTS = process.env.ALLOT_SCREENSHOTS ?? '/tmp';
const HOSTILE_NAME = '<img src=x onerror="window.__xss=1">Max & "more"';

async function ok(allot: Allot, method: string, path: string, body?: unknown): Promise<any> {
  const res = await allot.api(method, path, body);
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** acme/alice on Basic (100,000 tokens) with usage on four of five days and one hold; acme/bob idle; 27 users in shop "bulk". */
async function seed(allot: Allot): Promise<void> {
  await seedPlans(allot);
  await ok(allot, 'POST', '/v1/plans', {
    id: 'max', display_name: HOSTILE_NAME, allocated_tokens: 5_000_000, price_minor: 19_900, currency: 'EUR', billing_cycle: 'monthly', tier: 4,
  });
  await ok(allot, 'PUT', '/v1/subscriptions/acme/alice', { plan_id: 'basic' });
  await ok(allot, 'PUT', '/v1/subscriptions/acme/bob.o:k@x-y_z', { plan_id: 'pro' });
  const days: Array<[string, number]> = [
    ['2026-03-01T09:30:00.000Z', 12_000],
    ['2026-03-02T10:00:00.000Z', 8_000],
    ['2026-03-04T11:00:00.000Z', 25_000],
    ['2026-03-05T15:00:00.000Z', 40_000],
  ];
  for (const [i, [instant, tokens]] of days.entries()) {
    await allot.setClock(instant);
    await ok(allot, 'POST', '/v1/usage', { event_id: `evt-${i}`, shop_id: 'acme', user_id: 'alice', tokens });
  }
  await ok(allot, 'POST', '/v1/reservations', { shop_id: 'acme', user_id: 'alice', tokens: 3_000, ttl_seconds: 3600 });
  for (let i = 1; i <= 27; i++) await ok(allot, 'PUT', `/v1/subscriptions/bulk/user-${String(i).padStart(2, '0')}`, { plan_id: 'basic' });
}

async function connect(page: Page, url: string, key: string): Promise<void> {
  await page.goto(`${url}/dashboard`);
  await page.getByLabel('API key', { exact: true }).fill(key);
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).innerText()).replace(/\s+/g, ' ').trim();
}

test('dashboard: an operator follows a subscription from list to closed period', async (t) => {
  const allot = await startAllot('sqlite', { clock: '2026-03-01T09:00:00.000Z' });
  t.after(allot.close);
  await seed(allot);
  const browser = await launchChromium();
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));

  await connect(page, allot.url, MASTER_KEY);
  await page.locator('#subs-body tr[data-user="alice"]').waitFor();
  assert.equal(await page.locator('#connect-panel').isHidden(), true);
  assert.equal(await page.locator('#subs-body tr').count(), 25, 'the first page of subscriptions');

  // A plan name full of markup is shown as text and runs nothing.
  const plansText = await text(page, '#plans-body');
  assert.ok(plansText.includes(HOSTILE_NAME), plansText);
  assert.ok(plansText.includes('€199.00'), plansText);
  assert.equal(await page.locator('#plans-body img').count(), 0);
  assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);

  // Filters and next_cursor pagination.
  await page.getByLabel('Shop', { exact: true }).fill('bulk');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForFunction(() => document.querySelectorAll('#subs-body tr[data-shop="acme"]').length === 0);
  assert.equal(await page.locator('#subs-body tr').count(), 25);
  await page.getByRole('button', { name: 'Load more' }).first().click();
  await page.locator('#subs-body tr[data-user="user-27"]').waitFor();
  assert.equal(await page.locator('#subs-body tr').count(), 27);
  assert.equal(await page.locator('#subs-more').isHidden(), true);

  await page.getByLabel('Shop', { exact: true }).fill('acme');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.locator('#subs-body tr[data-user="bob.o:k@x-y_z"]').waitFor();
  await page.waitForFunction(() => document.querySelectorAll('#subs-body tr').length === 2);
  const aliceRow = await text(page, '#subs-body tr[data-user="alice"]');
  assert.equal(aliceRow, 'alice Basic acme active 85%');

  await page.locator('#subs-table').getByRole('button', { name: 'Open alice in acme' }).click();
  await page.locator('.usage').waitFor();
  assert.equal(await text(page, '#detail-title'), 'alice · acme');
  assert.equal(await text(page, '[data-field="used"] .number-value'), '85,000');
  assert.equal(await text(page, '[data-field="reserved"] .number-value'), '3,000');
  assert.equal(await text(page, '[data-field="remaining"] .number-value'), '12,000');
  assert.equal(await text(page, '[data-field="allocated"] .number-value'), '100,000');
  assert.equal(
    await page.locator('.usage .usage-bar').getAttribute('aria-label'),
    '85% of 100,000 tokens used, 3,000 reserved, 12,000 remaining',
  );
  const usedWidth = await page.locator('#detail .bar-used').evaluate((el) => (el as HTMLElement).style.width);
  assert.equal(usedWidth, '85%');

  const alert = page.locator('.alert[data-code="usage_high"]');
  assert.equal(await alert.getAttribute('class'), 'alert alert-warning');
  assert.match((await alert.textContent()) ?? '', /Warning/);
  const alertColour = await alert.evaluate((el) => getComputedStyle(el).borderLeftColor);
  assert.equal(alertColour, 'rgb(154, 103, 0)');
  assert.match(await text(page, '.rec-list [data-code="upgrade"]'), /Consider upgrading to Pro for 4x more tokens/);

  const bars = await page.locator('#detail svg.chart rect.day-bar').evaluateAll((rects) =>
    rects.map((r) => [r.getAttribute('data-date'), Number(r.getAttribute('data-tokens')), Number(r.getAttribute('height'))]),
  );
  assert.deepEqual(bars.map(([date, tokens]) => [date, tokens]), [
    ['2026-03-01', 12_000], ['2026-03-02', 8_000], ['2026-03-03', 0], ['2026-03-04', 25_000], ['2026-03-05', 40_000],
  ]);
  const heights = bars.map(([, , height]) => height as number);
  assert.ok(heights[4]! > heights[3]! && heights[3]! > heights[0]! && heights[0]! > heights[1]! && heights[2] === 0, String(heights));
  assert.equal(await page.locator('#periods-empty').isVisible(), true);
  assert.match(await text(page, '.plan-history'), /No plan changes/);
  assert.ok(new URL(page.url()).hash.startsWith('#sub=acme/alice'));
  await page.screenshot({ path: `${SHOTS}/allot-dashboard-1280.png`, fullPage: true });

  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.equal(overflow, 0, 'nothing wider than a phone screen');
  await page.screenshot({ path: `${SHOTS}/allot-dashboard-390.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });

  // Past the period end (2026-04-01T09:00Z) the period closes; a reload keeps the key and the selection.
  await ok(allot, 'PUT', '/v1/subscriptions/acme/alice', { plan_id: 'pro' });
  await allot.setClock('2026-04-02T08:00:00.000Z');
  await page.reload();
  await page.locator('#periods-table').waitFor();
  const periodRows = await page.locator('#periods-table tbody tr').allTextContents();
  assert.equal(periodRows.length, 1);
  assert.match(periodRows[0]!, /2026-03-01 → 2026-04-01\s*pro\s*85,000 \(21.25%\)\s*400,000\s*4\s*40,000/);
  assert.equal(await text(page, '[data-field="used"] .number-value'), '0');
  assert.doesNotMatch(await text(page, '#detail-body'), /\b(null|undefined|NaN)\b/);
  assert.match(await text(page, '#plan-history-table tbody'), /basic 2026-03-01 2026-03-05 100,000 upgrade/);
  await page.screenshot({ path: `${SHOTS}/allot-dashboard-periods.png`, fullPage: true });

  // Disconnect forgets the key.
  await page.getByRole('button', { name: 'Disconnect' }).click();
  assert.equal(await page.locator('#connect-panel').isVisible(), true);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('allot.dashboard.key')), null);
  assert.deepEqual(pageErrors, []);
});

test('dashboard: a bad key shows the 401 problem detail; other errors show theirs', async (t) => {
  const allot = await startAllot('sqlite', { clock: '2026-03-01T09:00:00.000Z' });
  t.after(allot.close);
  await seedPlans(allot);
  const expected = await allot.api('GET', '/v1/plans', undefined, { key: 'allot_sk_not-a-real-key' });
  assert.equal(expected.status, 401);
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await (await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en-US' })).newPage();

  await connect(page, allot.url, 'allot_sk_not-a-real-key');
  const problem = page.locator('#connect-error .problem[role="alert"]');
  await problem.waitFor();
  assert.equal(await text(page, '#connect-error .problem-detail'), expected.body.detail);
  assert.match(await text(page, '#connect-error .problem-title'), /401 · unauthorized/);
  assert.equal(await page.locator('#app').isHidden(), true);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('allot.dashboard.key')), null);
  await page.screenshot({ path: `${SHOTS}/allot-dashboard-401.png`, fullPage: true });

  // A subscription that does not exist (deep link) shows its 404 detail in the detail panel.
  const missing = await allot.api('GET', '/v1/subscriptions/acme/ghost/status');
  await page.goto(`${allot.url}/dashboard#sub=acme/ghost`);
  await page.getByLabel('API key', { exact: true }).fill(MASTER_KEY);
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
  await page.locator('#detail-error .problem').waitFor();
  assert.equal(await text(page, '#detail-error .problem-detail'), missing.body.detail);
  assert.match(await text(page, '#detail-error .problem-title'), /404 · subscription_not_found/);

  // A malformed filter shows the validation detail next to the list.
  await page.getByLabel('Shop', { exact: true }).fill('no spaces allowed');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.locator('#subs-error .problem').waitFor();
  assert.match(await text(page, '#subs-error'), /400 · validation_error/);
  assert.match(await text(page, '#subs-error li'), /^shop_id /);
});

test('dashboard: the page is served without a key and locked down', async (t) => {
  const allot = await startAllot('sqlite');
  t.after(allot.close);
  for (const path of ['/dashboard', '/dashboard/app.js', '/dashboard/app.css']) {
    const res = await fetch(`${allot.url}${path}`);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  }
  const html = await (await fetch(`${allot.url}/dashboard`)).text();
  assert.doesNotMatch(html, /<script>/, 'no inline script: the CSP forbids it');
  const slash = await fetch(`${allot.url}/dashboard/`, { redirect: 'manual' });
  assert.equal(slash.status, 301);
  assert.equal(slash.headers.get('location'), '/dashboard');
});
