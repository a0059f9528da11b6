/**
 * The dashboard acts: an operator creates and archives plans, creates,
 * changes, suspends, resumes and cancels subscriptions, creates and revokes
 * keys, by role and label as a person would; the API's state is checked over
 * HTTP after each. A double-click acts once; a shop key is offered no admin action.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { createShopKey, MASTER_KEY, plans, seedPlans, startAllot, type Allot } from '../support/harness.ts';

const SHOTS = process.env.ALLOT_SCREENSHOTS ?? '/tmp';

async function ok(allot: Allot, method: string, path: string, body?: unknown, key?: string): Promise<any> {
  const res = await allot.api(method, path, body, key === undefined ? {} : { key });
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** acme: alice on Basic at 85 %, dave on Basic at 50 %, bob on Pro idle; the clock ten days into their period. */
async function seed(allot: Allot): Promise<void> {
  await seedPlans(allot);
  await ok(allot, 'POST', '/v1/plans', plans.proYearly);
  for (const [user, plan] of [['alice', 'basic'], ['bob', 'pro'], ['dave', 'basic']]) await ok(allot, 'PUT', `/v1/subscriptions/acme/${user}`, { plan_id: plan });
  let n = 0;
  for (const [day, user, tokens] of [['02', 'alice', 30_000], ['04', 'dave', 50_000], ['06', 'alice', 25_000], ['09', 'alice', 30_000]] as const) {
    await allot.setClock(`2026-03-${day}T10:00:00.000Z`);
    await ok(allot, 'POST', '/v1/usage', { event_id: `e-${++n}`, shop_id: 'acme', user_id: user, tokens });
  }
  await allot.setClock('2026-03-11T09:00:00.000Z');
}

async function openPage(browser: Browser, width: number): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width, height: 900 }, locale: 'en-US' });
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  return { page, errors };
}

async function connect(page: Page, url: string, key: string): Promise<void> {
  await page.goto(`${url}/dashboard`);
  await page.getByLabel('API key', { exact: true }).fill(key);
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
  await page.locator('#subs-body tr').first().waitFor();
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).innerText()).replace(/\s+/g, ' ').trim();
}

/** Waits until `check` holds for the API's answer (the page acts asynchronously). */
async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = await read();
    if (check(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`never: ${what}`);
}

const get = (allot: Allot, path: string) => async () => (await allot.api('GET', path)).body;

test('dashboard actions: an admin creates, changes, suspends, resumes and cancels; keys are created once and revoked', async (t) => {
  const allot = await startAllot('sqlite', { clock: '2026-03-01T09:00:00.000Z' });
  t.after(allot.close);
  await seed(allot);
  const browser = await launchChromium();
  t.after(() => browser.close());
  const { page, errors } = await openPage(browser, 1280);
  await connect(page, allot.url, MASTER_KEY);

  // Plans by tier, not by id.
  await page.locator('#plans-body tr[data-plan="enterprise"]').waitFor();
  assert.deepEqual(await page.locator('#plans-body tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-plan'))), ['basic', 'pro', 'pro-yearly', 'enterprise']);

  // Create a plan.
  await page.getByText('New plan', { exact: true }).click();
  await page.getByLabel('Plan ID').fill('team');
  await page.getByLabel('Display name').fill('Team <b>');
  await page.getByLabel('Tokens per period').fill('250000');
  await page.getByLabel('Price in minor units (cents)').fill('1999');
  await page.getByLabel('Currency').fill('eur');
  await page.getByLabel('Billing cycle').selectOption('monthly');
  await page.getByLabel('Tier').fill('0');
  await page.getByRole('button', { name: 'Create plan' }).click();
  const team = await eventually(get(allot, '/v1/plans/team'), (p) => p.id === 'team', 'plan team created');
  assert.deepEqual([team.display_name, team.allocated_tokens, team.price_minor, team.currency, team.tier], ['Team <b>', 250_000, 1999, 'EUR', 0]);
  await page.locator('#plans-body tr[data-plan="team"]').waitFor();
  assert.equal(await page.locator('#plans-body tr').first().getAttribute('data-plan'), 'team', 'tier 0 comes first');

  // The same id again: the API's problem detail is shown, nothing changes.
  const refused = await allot.api('POST', '/v1/plans', { ...plans.basic, id: 'team' });
  await page.getByLabel('Plan ID').fill('team');
  await page.getByLabel('Display name').fill('Team again');
  await page.getByLabel('Tokens per period').fill('1');
  await page.getByLabel('Price in minor units (cents)').fill('1');
  await page.getByLabel('Tier').fill('5');
  await page.getByRole('button', { name: 'Create plan' }).click();
  await page.locator('#plan-form-error .problem').waitFor();
  assert.equal(await text(page, '#plan-form-error .problem-detail'), refused.body.detail);
  assert.equal((await allot.api('GET', '/v1/plans/team')).body.display_name, 'Team <b>');

  // Archive asks first; going back archives nothing.
  await page.getByRole('button', { name: 'Archive plan team' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /cannot be undone/);
  await dialog.getByRole('button', { name: 'Go back' }).click();
  assert.equal(await dialog.isVisible(), false);
  assert.equal((await allot.api('GET', '/v1/plans/team')).body.archived, false);
  await page.getByRole('button', { name: 'Archive plan team' }).click();
  await dialog.getByRole('button', { name: 'Archive plan' }).click();
  await eventually(get(allot, '/v1/plans/team'), (p) => p.archived === true, 'plan team archived');
  await page.locator('#plans-body tr[data-plan="team"] .badge-canceled').waitFor();

  // Create a subscription.
  await page.getByText('New subscription', { exact: true }).click();
  await page.getByLabel('Shop ID').fill('acme');
  await page.getByLabel('User ID').fill('carol');
  await page.getByLabel('Plan for the subscription').selectOption('pro');
  assert.equal(await page.locator('#new-sub-plan option[value="team"]').count(), 0, 'an archived plan is not offered');
  await page.getByRole('button', { name: 'Create subscription' }).click();
  const carol = await eventually(get(allot, '/v1/subscriptions/acme/carol'), (s) => s.plan_id === 'pro', 'carol subscribed');
  assert.equal(carol.status, 'active');
  await page.waitForFunction(() => document.getElementById('detail-title')?.textContent === 'carol · acme');

  // The shop view: counts, tokens per day, subscriptions at risk first.
  await page.getByLabel('Shop', { exact: true }).fill('acme');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.locator('#shop-subs-body tr[data-user="carol"]').waitFor();
  assert.deepEqual(await page.locator('#shop-subs-body tr').evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-user'), r.classList.contains('at-risk')])),
    [['alice', true], ['dave', true], ['bob', false], ['carol', false]]);
  assert.match(await text(page, '#shop-subs-body tr[data-user="alice"]'), /85% 85,000 \/ 100,000 past 75 %, runs out/);
  assert.match(await text(page, '#shop-counts tbody tr[data-plan="basic"]'), /basic 2 0 0/i);
  assert.match(await text(page, '#shop-counts tfoot'), /All plans 4 0 0/i);
  const shopBars = await page.locator('#shop-panel svg.chart rect.day-bar:not(.zero)').evaluateAll((rects) => rects.map((r) => [r.getAttribute('data-date'), Number(r.getAttribute('data-tokens'))]));
  assert.deepEqual(shopBars, [['2026-03-02', 30_000], ['2026-03-04', 50_000], ['2026-03-06', 25_000], ['2026-03-09', 30_000]]);
  assert.equal(await page.locator('#shop-daily-table tbody tr').count(), 30);
  await page.screenshot({ path: `${SHOTS}/dashboard-shop-1280.png`, fullPage: true, clip: await shopClip(page) });

  // Alice: the upgrade advice opens the change form with Pro chosen; at period end explains and stores a pending plan.
  await page.locator('#subs-table').getByRole('button', { name: 'Open alice in acme' }).click();
  await page.waitForFunction(() => document.getElementById('detail-title')?.textContent === 'alice · acme');
  await page.getByRole('button', { name: 'Change to Pro…' }).click();
  const change = page.locator('#change-form');
  assert.equal(await page.getByLabel('New plan').inputValue(), 'pro');
  assert.match(await text(page, '#change-explain'), /^Now: an upgrade to Pro at once\. This period's allowance becomes 400,000 tokens and the 85,000 used so far carry over, leaving 315,000 remaining\.$/);
  await change.getByLabel('At period end').check();
  assert.match(await text(page, '#change-explain'), /^At period end: Basic stays until 2026-04-01 09:00 UTC \(100,000 tokens this period\), then an upgrade to Pro with 400,000 tokens from the next period\.$/);
  await page.getByRole('button', { name: 'Change plan', exact: true }).click();
  await eventually(get(allot, '/v1/subscriptions/acme/alice'), (s) => s.pending_plan_id === 'pro', 'pending plan stored');
  await page.locator('.badge-info', { hasText: 'next plan: pro' }).waitFor();
  await page.screenshot({ path: `${SHOTS}/dashboard-subscription-1280.png`, fullPage: true });

  // A change the API refuses shows its detail: a yearly plan cannot start now.
  const cycle = await allot.api('PUT', '/v1/subscriptions/acme/nobody-here', { plan_id: 'basic' }, { key: null });
  assert.equal(cycle.status, 401);
  await page.getByText('Change plan…').click();
  await page.getByLabel('New plan').selectOption('pro-yearly');
  await change.getByLabel('Now').check();
  assert.match(await text(page, '#change-explain'), /only the period end allows/);
  await page.getByRole('button', { name: 'Change plan', exact: true }).click();
  await page.locator('#actions-error .problem').waitFor();
  assert.match(await text(page, '#actions-error .problem-title'), /422 · cycle_change_requires_period_end/);
  const expected = await allot.api('PUT', '/v1/subscriptions/acme/alice', { plan_id: 'pro-yearly', when: 'now' });
  assert.equal(await text(page, '#actions-error .problem-detail'), expected.body.detail);

  // Now: Enterprise at once; the plan history shows it as the current plan.
  await page.getByLabel('New plan').selectOption('enterprise');
  await change.getByLabel('Now').check();
  await page.getByRole('button', { name: 'Change plan', exact: true }).click();
  await eventually(get(allot, '/v1/subscriptions/acme/alice'), (s) => s.plan_id === 'enterprise', 'changed now');
  await page.locator('#plan-history-table .current-plan', { hasText: 'enterprise' }).waitFor();
  assert.match(await text(page, '#plan-history-table tbody'), /basic 2026-03-01 2026-03-11 100,000 upgrade enterprise current 2026-03-11 now 2,000,000/);

  // Suspend, resume.
  await page.getByRole('button', { name: 'Suspend' }).click();
  await eventually(get(allot, '/v1/subscriptions/acme/alice'), (s) => s.status === 'suspended', 'suspended');
  await page.getByRole('button', { name: 'Resume' }).click();
  await eventually(get(allot, '/v1/subscriptions/acme/alice'), (s) => s.status === 'active', 'resumed');
  await page.getByRole('button', { name: 'Suspend' }).waitFor();

  // Cancel at period end (asked first), then carol now.
  await page.getByText('Cancel…').click();
  await page.getByRole('button', { name: 'Cancel subscription' }).click();
  await dialog.getByRole('button', { name: 'Cancel at period end' }).click();
  await eventually(get(allot, '/v1/subscriptions/acme/alice'), (s) => s.cancel_at_period_end === true, 'cancels at period end');
  assert.equal((await allot.api('GET', '/v1/subscriptions/acme/alice')).body.status, 'active');

  await page.locator('#subs-table').getByRole('button', { name: 'Open carol in acme' }).click();
  await page.waitForFunction(() => document.getElementById('detail-title')?.textContent === 'carol · acme');
  await page.locator('#cancel-form').waitFor({ state: 'attached' });
  await page.getByText('Cancel…').click();
  await page.locator('#cancel-form').getByLabel('Now').check();
  await page.getByRole('button', { name: 'Cancel subscription' }).click();
  assert.match(await dialog.innerText(), /cannot be undone/);
  await dialog.getByRole('button', { name: 'Cancel now' }).click();
  await eventually(get(allot, '/v1/subscriptions/acme/carol'), (s) => s.status === 'canceled', 'carol canceled');
  await page.locator('#detail .badge-canceled').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Suspend' }).count(), 0, 'a canceled subscription offers no actions');

  // Keys: created, shown once with a copy button, revoked after a confirmation.
  await page.getByText('New API key', { exact: true }).click();
  await page.getByLabel('Key name').fill('support desk');
  await page.getByLabel('Role').selectOption('shop');
  await page.getByLabel('Shop of the key').fill('acme');
  await page.getByRole('button', { name: 'Create key' }).click();
  const shown = page.getByLabel('New API key', { exact: true });
  await shown.waitFor();
  const secret = await shown.inputValue();
  assert.equal((await allot.api('GET', '/v1/plans', undefined, { key: secret })).status, 200, 'the shown key works');
  await page.getByRole('button', { name: 'Copy key' }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
  await page.getByRole('button', { name: 'Done, hide it' }).click();
  assert.equal(await page.getByLabel('New API key', { exact: true }).count(), 0, 'the key is shown once');
  const keys = (await allot.api('GET', '/v1/api-keys')).body.data;
  const made = keys.find((k: any) => k.name === 'support desk');
  assert.deepEqual([made.role, made.shop_id, made.revoked_at], ['shop', 'acme', null]);
  await page.getByRole('button', { name: 'Revoke key support desk' }).click();
  await dialog.getByRole('button', { name: 'Revoke key' }).click();
  await eventually(async () => (await allot.api('GET', '/v1/plans', undefined, { key: secret })).status, (s) => s === 401, 'revoked key refused');
  await page.locator('#keys-body tr[data-key-id] .badge-canceled').waitFor();

  // Escape closes a confirmation without acting.
  const another = (await allot.api('POST', '/v1/api-keys', { name: 'kept', role: 'admin' })).body;
  await page.getByLabel('Key name').fill('x');
  await page.getByLabel('Role').selectOption('admin');
  await page.getByRole('button', { name: 'Create key' }).click();
  await page.getByLabel('New API key', { exact: true }).waitFor();
  await page.getByRole('button', { name: 'Revoke key kept' }).focus();
  await page.keyboard.press('Enter');
  await dialog.waitFor();
  await page.keyboard.press('Escape');
  assert.equal(await dialog.isVisible(), false);
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Revoke key kept', 'focus returns to the button');
  assert.equal((await allot.api('GET', '/v1/api-keys')).body.data.find((k: any) => k.id === another.id).revoked_at, null);

  // Every control has a name.
  const unnamed = await page.evaluate(() => [...document.querySelectorAll('input, select, button, textarea')]
    .filter((el) => {
      const control = el as HTMLInputElement;
      if (el.tagName === 'BUTTON') return !(el.getAttribute('aria-label') || el.textContent?.trim());
      return !(control.labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby'));
    })
    .map((el) => el.outerHTML.slice(0, 120)));
  assert.deepEqual(unnamed, []);

  assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
  assert.equal(await page.locator('#plans-body b').count(), 0, 'a plan name is text');
  assert.deepEqual(errors, []);
});

async function shopClip(page: Page) {
  const bottom = await page.locator('#shop-panel').evaluate((el) => el.getBoundingClientRect().bottom + window.scrollY);
  return { x: 0, y: 0, width: page.viewportSize()!.width, height: Math.ceil(bottom + 16) };
}

test('dashboard actions: a double-click creates one key; a retry after a lost answer replays it', async (t) => {
  const allot = await startAllot('sqlite', { clock: '2026-03-01T09:00:00.000Z' });
  t.after(allot.close);
  await seed(allot);
  const browser = await launchChromium();
  t.after(() => browser.close());
  const { page, errors } = await openPage(browser, 1280);
  await connect(page, allot.url, MASTER_KEY);

  await page.getByText('New API key', { exact: true }).click();
  await page.getByLabel('Key name').fill('twice');
  await page.getByLabel('Role').selectOption('admin');
  await page.getByRole('button', { name: 'Create key' }).dblclick();
  await page.getByLabel('New API key', { exact: true }).waitFor();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const keys = (await allot.api('GET', '/v1/api-keys', undefined)).body.data.filter((k: any) => k.name === 'twice');
  assert.equal(keys.length, 1, 'one key for one double-click');

  // The answer is lost on the way back (the key was made); submitting again replays it instead of making another.
  let lose = true;
  await page.route('**/v1/api-keys', async (route) => {
    if (route.request().method() === 'POST' && lose) {
      lose = false;
      await route.fetch();
      await route.abort('connectionreset');
      return;
    }
    await route.continue();
  });
  await page.getByLabel('Key name').fill('lost answer');
  await page.getByLabel('Role').selectOption('admin');
  await page.getByRole('button', { name: 'Create key' }).click();
  await page.locator('#key-form-error .problem', { hasText: 'Server unreachable' }).waitFor();
  assert.equal((await allot.api('GET', '/v1/api-keys')).body.data.filter((k: any) => k.name === 'lost answer').length, 1, 'the key of the lost answer was made');
  await page.getByRole('button', { name: 'Create key' }).click();
  await page.locator('#new-key', { hasText: 'Key lost answer created' }).waitFor();
  const lost = (await allot.api('GET', '/v1/api-keys')).body.data.filter((k: any) => k.name === 'lost answer');
  assert.equal(lost.length, 1, 'the retry replayed the first answer');
  assert.ok((await page.getByLabel('New API key', { exact: true }).inputValue()).startsWith(lost[0].prefix));
  await page.unroute('**/v1/api-keys');

  // Repeating the same submit after it succeeded is a new intent: a second key.
  await page.getByLabel('Key name').fill('twice');
  await page.getByLabel('Role').selectOption('admin');
  await page.getByRole('button', { name: 'Create key' }).click();
  await eventually(async () => (await allot.api('GET', '/v1/api-keys')).body.data.filter((k: any) => k.name === 'twice').length, (n) => n === 2, 'a second intent');
  assert.deepEqual(errors, []);
});

test('dashboard actions: a shop key sees its shop and is offered no admin action', async (t) => {
  const allot = await startAllot('sqlite', { clock: '2026-03-01T09:00:00.000Z' });
  t.after(allot.close);
  await seed(allot);
  await ok(allot, 'PUT', '/v1/subscriptions/other/zed', { plan_id: 'basic' });
  const key = await createShopKey(allot, 'acme');
  const browser = await launchChromium();
  t.after(() => browser.close());
  const { page, errors } = await openPage(browser, 390);
  await connect(page, allot.url, key);

  await page.locator('#shop-subs-body tr[data-user="alice"]').waitFor();
  assert.equal(await text(page, '#shop-title'), 'Shop acme');
  for (const name of [/Archive plan/, /^Create plan$/, /^Create key$/, /^Revoke/, /Renew/]) {
    assert.equal(await page.getByRole('button', { name }).count(), 0, String(name));
  }
  assert.equal(await page.locator('#keys-panel').isHidden(), true);
  assert.equal(await page.locator('#plan-create').isHidden(), true);
  assert.equal(await page.getByText('New plan', { exact: true }).isVisible(), false);
  assert.equal(await page.locator('#subs-body tr[data-shop="other"]').count(), 0);

  // What the key may do it can: suspend its own user.
  await page.locator('#subs-table').getByRole('button', { name: 'Open dave in acme' }).click();
  await page.waitForFunction(() => document.getElementById('detail-title')?.textContent === 'dave · acme');
  await page.getByRole('button', { name: 'Suspend' }).click();
  await eventually(get(allot, '/v1/subscriptions/acme/dave'), (s) => s.status === 'suspended', 'suspended by the shop key');
  await page.getByRole('button', { name: 'Resume' }).waitFor();
  await page.locator('#detail').screenshot({ path: `${SHOTS}/dashboard-subscription-390.png` });
  // From the keyboard: focus and Enter.
  await page.getByRole('button', { name: 'Resume' }).focus();
  await page.keyboard.press('Enter');
  await eventually(get(allot, '/v1/subscriptions/acme/dave'), (s) => s.status === 'active', 'resumed from the keyboard');
  await page.getByRole('button', { name: 'Suspend' }).waitFor();

  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.equal(overflow, 0, 'nothing wider than a phone screen');
  await page.screenshot({ path: `${SHOTS}/dashboard-shop-390.png`, fullPage: true, clip: await shopClip(page) });
  assert.deepEqual(errors, []);
});
