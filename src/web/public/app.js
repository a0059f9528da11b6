// The allot dashboard. Plain DOM: every value from the API goes in through
// textContent or setAttribute, never through HTML parsing.

const KEY_ITEM = 'allot.dashboard.key';
const BASE_ITEM = 'allot.dashboard.base';
const SVG_NS = 'http://www.w3.org/2000/svg';

const state = {
  key: null,
  base: location.origin,
  subsCursor: null,
  plansCursor: null,
  periodsCursor: null,
  selected: null,
  // Answers for an older selection arrive late; only the latest one renders.
  detailRequest: 0,
  subsRequest: 0,
  dailyRange: 'period',
  lastDay: null,
  daily: null,
  // What the key may do: 'admin' or 'shop' (found out at connect), and a shop key's own shop once seen.
  role: null,
  ownShop: null,
  plans: new Map(),
  intents: new Map(),
  shopShown: null,
  shopRequest: 0,
  shopCursor: null,
  shopDaily: null,
};

const $ = (id) => document.getElementById(id);

function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name === 'text') el.textContent = String(value);
    else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'text') el.textContent = String(value);
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// ---------- formatting ----------

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
const fmtInt = (n) => integer.format(n);
const fmtDec = (n) => decimal.format(n);

function fmtMoney(minor, currency) {
  try {
    const format = new Intl.NumberFormat('en-US', { style: 'currency', currency });
    const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
    return format.format(minor / 10 ** digits);
  } catch {
    return `${fmtInt(minor)} ${currency} (minor units)`;
  }
}

/** RFC 3339 → "2026-01-31 12:00 UTC": the API speaks UTC, so does the page. */
function fmtInstant(iso) {
  if (!iso) return '—';
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

const fmtDay = (iso) => (iso ? iso.slice(0, 10) : '—');

function shortKey(key) {
  return key.length > 14 ? `${key.slice(0, 9)}…${key.slice(-4)}` : '••••';
}

// ---------- API ----------

class ProblemError extends Error {
  constructor(problem) {
    super(problem.detail);
    this.problem = problem;
  }
}

async function api(path, query = {}) {
  const url = new URL(state.base.replace(/\/+$/, '') + path);
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, String(value));
  }
  let response;
  try {
    response = await fetch(url, { headers: { authorization: `Bearer ${state.key}`, accept: 'application/json' } });
  } catch (error) {
    throw new ProblemError({ title: 'Server unreachable', status: 0, code: 'network_error', detail: `Could not reach ${state.base}: ${error.message}` });
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const problem = body && typeof body === 'object' && typeof body.detail === 'string'
      ? body
      : { title: response.statusText || 'Request failed', status: response.status, code: 'http_error', detail: text.slice(0, 300) || `HTTP ${response.status}` };
    throw new ProblemError(problem);
  }
  if (body === null) throw new ProblemError({ title: 'Unexpected answer', status: response.status, code: 'not_json', detail: `${path} did not answer JSON.` });
  return body;
}

const subPath = (shop, user) => `/v1/subscriptions/${encodeURIComponent(shop)}/${encodeURIComponent(user)}`;

function showProblem(slot, error) {
  slot.replaceChildren();
  if (!error) return;
  const problem = error instanceof ProblemError
    ? error.problem
    : { title: 'Error', status: 0, code: 'client_error', detail: error instanceof Error ? error.message : String(error) };
  const fieldErrors = Array.isArray(problem.errors) ? problem.errors : [];
  slot.append(
    h('div', { class: 'problem', role: 'alert' },
      h('p', { class: 'problem-title' },
        h('strong', { text: problem.title || 'Error' }),
        problem.status ? h('span', { class: 'problem-code', text: ` ${problem.status}${problem.code ? ` · ${problem.code}` : ''}` }) : null),
      h('p', { class: 'problem-detail', text: problem.detail }),
      fieldErrors.length
        ? h('ul', {}, fieldErrors.map((e) => h('li', {}, h('code', { text: e.path || '(body)' }), ` ${e.message}`)))
        : null),
  );
}

// ---------- session ----------

function connectedView(connected) {
  $('connect-panel').hidden = connected;
  $('app').hidden = !connected;
  $('session').hidden = !connected;
  if (connected) {
    $('session-base').textContent = state.base;
    $('session-key').textContent = shortKey(state.key);
  }
}

async function connect(key, base) {
  state.key = key;
  state.base = base;
  showProblem($('connect-error'), null);
  const button = $('connect-button');
  button.disabled = true;
  try {
    const plans = await api('/v1/plans', { limit: 100 });
    sessionStorage.setItem(KEY_ITEM, key);
    sessionStorage.setItem(BASE_ITEM, base);
    state.role = await detectRole();
    connectedView(true);
    applyRole();
    renderPlans(plans, false);
    await loadSubscriptions(false);
    afterFirstList();
    const wanted = parseHash();
    if (wanted) openSubscription(wanted.shop, wanted.user);
  } catch (error) {
    state.key = null;
    sessionStorage.removeItem(KEY_ITEM);
    connectedView(false);
    showProblem($('connect-error'), error);
  } finally {
    button.disabled = false;
  }
}

function disconnect() {
  sessionStorage.removeItem(KEY_ITEM);
  state.key = null;
  state.selected = null;
  state.role = null;
  state.ownShop = null;
  state.plans = new Map();
  state.intents = new Map();
  state.detailRequest++;
  state.subsRequest++;
  state.shopRequest++;
  state.shopDaily = null;
  showShop(null);
  $('keys-body').replaceChildren();
  $('new-key').replaceChildren();
  $('new-key').hidden = true;
  $('subs-body').replaceChildren();
  $('plans-body').replaceChildren();
  $('detail-body').replaceChildren();
  $('detail-placeholder').hidden = false;
  $('detail-title').textContent = 'Subscription';
  $('api-key').value = '';
  history.replaceState(null, '', location.pathname);
  connectedView(false);
  $('api-key').focus();
}

// ---------- plans ----------

function renderPlans(page, appendRows) {
  if (!appendRows) state.plans = new Map();
  for (const plan of page.data) state.plans.set(plan.id, plan);
  state.plansCursor = page.next_cursor;
  $('plans-more').hidden = !page.next_cursor;
  drawPlans();
}

/** Plans by tier (then id); an admin may archive the ones still open. */
function drawPlans() {
  const body = $('plans-body');
  body.replaceChildren();
  for (const plan of plansByTier()) {
    const archive = state.role === 'admin' && !plan.archived
      ? h('button', { type: 'button', class: 'secondary small-button', 'aria-label': `Archive plan ${plan.id}`, text: 'Archive', onclick: () => archivePlan(plan) })
      : null;
    body.append(h('tr', { class: plan.archived ? 'archived' : null, 'data-plan': plan.id },
      h('td', { class: 'wrap-anywhere' },
        h('span', { class: 'plan-name', text: plan.display_name }),
        h('span', { class: 'muted small block', text: `${plan.id} · ${plan.billing_cycle}${plan.allowance_interval === 'year' ? ', yearly allowance' : ''} · tier ${plan.tier}` }),
        plan.archived ? h('span', { class: 'badge badge-canceled', text: 'archived' }) : null,
        archive),
      h('td', { class: 'num', text: fmtInt(plan.allocated_tokens) }),
      h('td', { class: 'num', text: fmtMoney(plan.price_minor, plan.currency) })));
  }
  if (!body.children.length) body.append(h('tr', {}, h('td', { colspan: 3, class: 'muted', text: 'No plans yet.' })));
  planOptions($('new-sub-plan'));
}

/** A shop key's shop is the shop of what it lists; the shop view opens on it. */
function afterFirstList() {
  const first = $('subs-body').querySelector('tr[data-shop]');
  if (state.role === 'shop' && first) {
    state.ownShop = first.dataset.shop;
    $('new-sub-shop').value = state.ownShop;
  }
  const shop = $('filter-shop').value.trim() || state.ownShop;
  showShop(shop);
}

async function morePlans() {
  try {
    renderPlans(await api('/v1/plans', { limit: 100, cursor: state.plansCursor }), true);
  } catch (error) {
    showProblem($('plans-error'), error);
  }
}

// ---------- subscriptions ----------

async function loadSubscriptions(appendRows) {
  const slot = $('subs-error');
  showProblem(slot, null);
  const query = {
    shop_id: $('filter-shop').value.trim(),
    status: $('filter-status').value,
    limit: 25,
    cursor: appendRows ? state.subsCursor : undefined,
  };
  const ticket = ++state.subsRequest;
  try {
    const page = await api('/v1/subscriptions', query);
    if (ticket === state.subsRequest) renderSubscriptions(page, appendRows);
  } catch (error) {
    if (ticket !== state.subsRequest) return;
    if (!appendRows) {
      $('subs-body').replaceChildren();
      $('subs-more').hidden = true;
      $('subs-empty').hidden = true;
    }
    showProblem(slot, error);
  }
}

function statusBadge(status) {
  return h('span', { class: `badge badge-${status}`, text: status });
}

function renderSubscriptions(page, appendRows) {
  const body = $('subs-body');
  if (!appendRows) body.replaceChildren();
  for (const sub of page.data) {
    const selected = state.selected && state.selected.shop === sub.shop_id && state.selected.user === sub.user_id;
    const pct = sub.usage_percentage;
    const row = h('tr', { 'data-shop': sub.shop_id, 'data-user': sub.user_id, class: selected ? 'selected' : null, 'aria-current': selected ? 'true' : null },
      h('td', {}, h('button', {
        type: 'button',
        class: 'link',
        'aria-label': `Open ${sub.user_id} in ${sub.shop_id}`,
        onclick: () => openSubscription(sub.shop_id, sub.user_id),
        text: sub.user_id,
      }), h('span', { class: 'muted small block', text: sub.plan_display_name })),
      h('td', { class: 'wrap-anywhere', text: sub.shop_id }),
      h('td', {}, statusBadge(sub.status)),
      h('td', { class: 'num' },
        h('span', { text: `${fmtDec(pct)}%` }),
        h('span', { class: 'minibar', 'aria-hidden': 'true' }, minibarFill(pct))));
    body.append(row);
  }
  state.subsCursor = page.next_cursor;
  $('subs-more').hidden = !page.next_cursor;
  $('subs-empty').hidden = body.children.length > 0;
}

function minibarFill(pct) {
  const fill = h('span', { class: pct >= 100 ? 'over' : pct >= 75 ? 'high' : '' });
  fill.style.width = `${Math.min(100, Math.max(0, pct))}%`;
  return fill;
}

function markSelectedRow() {
  for (const row of $('subs-body').children) {
    const on = !!state.selected && row.dataset.shop === state.selected.shop && row.dataset.user === state.selected.user;
    row.classList.toggle('selected', on);
    if (on) row.setAttribute('aria-current', 'true');
    else row.removeAttribute('aria-current');
  }
}

function parseHash() {
  const match = /^#sub=([^/]+)\/(.+)$/.exec(location.hash);
  if (!match) return null;
  try {
    return { shop: decodeURIComponent(match[1]), user: decodeURIComponent(match[2]) };
  } catch {
    return null;
  }
}

// ---------- one subscription ----------

async function openSubscription(shop, user) {
  state.selected = { shop, user };
  state.dailyRange = 'period';
  const wantedHash = `#sub=${encodeURIComponent(shop)}/${encodeURIComponent(user)}`;
  if (location.hash !== wantedHash) history.replaceState(null, '', wantedHash);
  markSelectedRow();
  const ticket = ++state.detailRequest;
  const detail = $('detail');
  detail.setAttribute('aria-busy', 'true');
  $('detail-placeholder').hidden = true;
  $('detail-title').textContent = `${user} · ${shop}`;
  showProblem($('detail-error'), null);
  try {
    const [status, daily, periods] = await Promise.all([
      api(`${subPath(shop, user)}/status`, { include_history: 'true' }),
      api(`${subPath(shop, user)}/usage/daily`),
      api(`${subPath(shop, user)}/periods`, { limit: 12 }),
    ]);
    if (ticket !== state.detailRequest) return;
    state.lastDay = daily.to;
    renderDetail(status, daily, periods);
  } catch (error) {
    if (ticket !== state.detailRequest) return;
    $('detail-body').replaceChildren();
    showProblem($('detail-error'), error);
  } finally {
    if (ticket === state.detailRequest) detail.removeAttribute('aria-busy');
  }
  if (ticket === state.detailRequest && window.matchMedia('(max-width: 900px)').matches) {
    detail.focus({ preventScroll: true });
    detail.scrollIntoView({ block: 'start' });
  }
}

function fact(term, value, wide = false) {
  return h('div', { class: wide ? 'fact fact-wide' : 'fact' }, h('dt', { text: term }), h('dd', { text: value }));
}

function renderDetail(s, daily, periods) {
  const body = $('detail-body');
  body.replaceChildren();
  append(body, [
    h('div', { class: 'detail-head' },
      h('div', {},
        h('p', { class: 'plan-line' },
          h('span', { class: 'plan-name', text: s.plan_display_name }),
          h('span', { class: 'muted', text: ` (${s.plan_id}) · ${fmtMoney(s.price_minor, s.currency)} ${s.billing_cycle}` })),
        h('p', { class: 'muted small', text: `Subscription ${s.subscription_id} · started ${fmtInstant(s.started_at)}` })),
      h('div', { class: 'badges' },
        statusBadge(s.status),
        s.cancel_at_period_end && s.status !== 'canceled' ? h('span', { class: 'badge badge-suspended', text: 'cancels at period end' }) : null,
        s.pending_plan_id ? h('span', { class: 'badge badge-info', text: `next plan: ${s.pending_plan_id}` }) : null)),
    usageBlock(s),
    actionsBlock(s),
    alertsBlock(s.alerts),
    recommendationsBlock(s.recommendations, s.status !== 'canceled'),
    h('dl', { class: 'facts' },
      fact('Current period', `${fmtInstant(s.current_period_start)} → ${fmtInstant(s.current_period_end)}`, true),
      fact('Days remaining', fmtInt(s.days_remaining_in_period)),
      fact('Next billing', s.next_billing_date ? `${fmtDay(s.next_billing_date)} · ${fmtMoney(s.next_billing_amount_minor, s.next_billing_currency)}` : '—'),
      fact('Average per day', `${fmtDec(s.avg_daily_usage)} tokens`),
      fact('Projected this period', `${fmtInt(s.projected_usage)} tokens`),
      fact('Runs out on', s.projected_exhaustion_date ?? 'not this period'),
      fact('Trend', s.usage_trend),
      s.usage_history ? fact('Queries this period', `${fmtInt(s.usage_history.total_queries)} · ${fmtDec(s.usage_history.avg_tokens_per_query)} tokens each`) : null),
    chartBlock(daily),
    periodsBlock(periods),
    planHistoryBlock(s.plan_history ?? [], s),
  ]);
}

function usageBlock(s) {
  const allocated = s.allocated_tokens;
  const usedPct = allocated > 0 ? Math.min(100, (s.used_tokens / allocated) * 100) : s.used_tokens > 0 ? 100 : 0;
  const reservedPct = allocated > 0 ? Math.min(100 - usedPct, (s.reserved_tokens / allocated) * 100) : 0;
  const over = s.used_tokens > allocated;
  const level = over ? ' over' : s.usage_percentage >= 90 ? ' critical' : s.usage_percentage >= 75 ? ' high' : '';
  const used = h('span', { class: `bar-used${level}` });
  used.style.width = `${usedPct}%`;
  const reserved = h('span', { class: 'bar-reserved' });
  reserved.style.width = `${reservedPct}%`;
  const label = `${fmtDec(s.usage_percentage)}% of ${fmtInt(allocated)} tokens used, ${fmtInt(s.reserved_tokens)} reserved, ${fmtInt(s.remaining_tokens)} remaining`;
  return h('section', { class: 'usage', 'aria-labelledby': 'usage-title' },
    h('h3', { id: 'usage-title', text: 'Allowance this period' }),
    h('div', { class: 'numbers' },
      h('div', { class: 'number', 'data-field': 'used' }, h('span', { class: 'number-label', text: 'Used' }), h('span', { class: 'number-value', text: fmtInt(s.used_tokens) })),
      h('div', { class: 'number', 'data-field': 'reserved' }, h('span', { class: 'number-label', text: 'Reserved' }), h('span', { class: 'number-value', text: fmtInt(s.reserved_tokens) })),
      h('div', { class: 'number', 'data-field': 'remaining' }, h('span', { class: 'number-label', text: 'Remaining' }), h('span', { class: 'number-value', text: fmtInt(s.remaining_tokens) })),
      h('div', { class: 'number', 'data-field': 'allocated' }, h('span', { class: 'number-label', text: 'Allowance' }), h('span', { class: 'number-value', text: fmtInt(allocated) }))),
    h('div', { class: 'usage-bar', role: 'img', 'aria-label': label }, used, reserved),
    h('p', { class: 'bar-caption' },
      h('span', { class: 'pct', text: `${fmtDec(s.usage_percentage)}% used` }),
      h('span', { class: 'legend' },
        h('span', { class: `swatch swatch-used${level}`, 'aria-hidden': 'true' }), 'used ',
        h('span', { class: 'swatch swatch-reserved', 'aria-hidden': 'true' }), 'reserved')),
  );
}

const alertLabel = { info: 'Info', warning: 'Warning', error: 'Error' };

function alertsBlock(alerts) {
  if (!alerts.length) return h('section', { class: 'alerts', 'aria-label': 'Alerts' }, h('p', { class: 'muted', text: 'No alerts.' }));
  return h('section', { class: 'alerts', 'aria-labelledby': 'alerts-title' },
    h('h3', { id: 'alerts-title', text: 'Alerts' }),
    h('ul', { class: 'alert-list' }, alerts.map((a) =>
      h('li', { class: `alert alert-${a.type}`, 'data-code': a.code },
        h('span', { class: 'alert-type', text: alertLabel[a.type] ?? a.type }),
        h('span', { class: 'alert-message', text: a.message }),
        a.action ? h('span', { class: 'alert-action', text: a.action }) : null))));
}

function recommendationsBlock(recommendations, live) {
  if (!recommendations.length) return null;
  return h('section', { class: 'recommendations', 'aria-labelledby': 'recs-title' },
    h('h3', { id: 'recs-title', text: 'Recommendations' }),
    h('ul', { class: 'rec-list' }, recommendations.map((r) =>
      h('li', { 'data-code': r.code },
        h('span', { text: r.message }),
        r.plan_id ? h('span', { class: 'muted small', text: ` (plan ${r.plan_id})` }) : null,
        r.plan_id && live && state.plans.has(r.plan_id)
          ? h('button', { type: 'button', class: 'secondary small-button rec-action', text: `Change to ${state.plans.get(r.plan_id).display_name}…`, onclick: () => offerChange(r.plan_id) })
          : null))));
}

// ---------- daily chart ----------

function chartBlock(daily) {
  const select = h('select', { id: 'daily-range', onchange: (event) => changeRange(event.target.value) },
    h('option', { value: 'period', text: 'This period' }),
    h('option', { value: '30', text: 'Last 30 days' }),
    h('option', { value: '90', text: 'Last 90 days' }));
  select.value = state.dailyRange;
  return h('section', { class: 'chart-section', 'aria-labelledby': 'chart-title' },
    h('div', { class: 'section-head' },
      h('h3', { id: 'chart-title', text: 'Daily usage' }),
      h('div', { class: 'field inline' }, h('label', { for: 'daily-range', text: 'Range' }), select)),
    h('div', { id: 'chart-slot' }, chart(daily)));
}

async function changeRange(range) {
  state.dailyRange = range;
  const sel = state.selected;
  if (!sel) return;
  const ticket = state.detailRequest;
  const query = {};
  if (range !== 'period' && state.lastDay) {
    const to = Date.parse(`${state.lastDay}T00:00:00Z`);
    query.to = state.lastDay;
    query.from = new Date(to - (Number(range) - 1) * 86_400_000).toISOString().slice(0, 10);
  }
  try {
    const daily = await api(`${subPath(sel.shop, sel.user)}/usage/daily`, query);
    if (ticket !== state.detailRequest) return;
    $('chart-slot').replaceChildren(chart(daily));
  } catch (error) {
    if (ticket === state.detailRequest) showProblem($('chart-slot'), error);
  }
}

function niceMax(value) {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * magnitude >= value) return step * magnitude;
  }
  return 10 * magnitude;
}

function compact(n) {
  return new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 }).format(n);
}

// The chart is drawn at the width it is shown at, so its labels keep their size on a phone.
function chartWidth(container = 'detail-body') {
  const available = $(container)?.clientWidth || 640;
  return Math.round(Math.min(900, Math.max(280, available)));
}

function chart(daily, { titleId = 'chart-desc', widthOf = 'detail-body', remember = true, tableId } = {}) {
  if (remember) state.daily = daily;
  const points = daily.data;
  const width = chartWidth(widthOf);
  const height = width < 480 ? 180 : 220;
  const pad = { top: 12, right: 8, bottom: 28, left: 48 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const peak = Math.max(0, ...points.map((p) => p.tokens));
  const max = niceMax(Math.max(peak, 10));
  const slot = plotW / Math.max(1, points.length);
  const barW = Math.max(1, Math.min(40, slot * 0.72));
  const total = points.reduce((sum, p) => sum + p.tokens, 0);

  const root = svg('svg', {
    class: 'chart',
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-labelledby': titleId,
  });
  root.append(svg('title', { id: titleId, text: `Tokens per day from ${daily.from} to ${daily.to}: ${fmtInt(total)} in total, at most ${fmtInt(peak)} on one day.` }));
  for (const fraction of [0, 0.5, 1]) {
    const y = pad.top + plotH - fraction * plotH;
    root.append(svg('line', { class: 'grid', x1: pad.left, x2: width - pad.right, y1: y, y2: y }));
    root.append(svg('text', { class: 'axis', x: pad.left - 6, y: y + 4, 'text-anchor': 'end', text: compact(max * fraction) }));
  }
  if (total === 0) {
    root.append(svg('text', { class: 'axis empty', x: pad.left + plotW / 2, y: pad.top + plotH * 0.3, 'text-anchor': 'middle', text: 'No usage in this range' }));
  }
  points.forEach((p, i) => {
    const barH = p.tokens > 0 ? Math.max(2, (p.tokens / max) * plotH) : 0;
    const x = pad.left + i * slot + (slot - barW) / 2;
    const bar = svg('rect', {
      class: p.tokens > 0 ? 'day-bar' : 'day-bar zero',
      x: x.toFixed(2),
      y: (pad.top + plotH - barH).toFixed(2),
      width: barW.toFixed(2),
      height: barH.toFixed(2),
      rx: Math.min(3, barW / 3).toFixed(2),
      'data-date': p.date,
      'data-tokens': p.tokens,
    }, svg('title', { text: `${p.date}: ${fmtInt(p.tokens)} tokens, ${fmtInt(p.queries)} queries` }));
    root.append(bar);
  });
  const labelEvery = Math.max(1, Math.ceil(points.length / Math.max(2, Math.floor(plotW / 64))));
  points.forEach((p, i) => {
    if (i % labelEvery !== 0 && i !== points.length - 1) return;
    if (i !== points.length - 1 && points.length - 1 - i < labelEvery / 2 && i !== 0) return;
    const last = i === points.length - 1 && points.length > 1;
    const x = last ? width - pad.right : pad.left + i * slot + slot / 2;
    root.append(svg('text', { class: 'axis', x, y: height - 8, 'text-anchor': last ? 'end' : 'middle', text: p.date.slice(5) }));
  });

  const table = h('table', { class: 'data compact', id: tableId },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Day' }), h('th', { scope: 'col', class: 'num', text: 'Tokens' }), h('th', { scope: 'col', class: 'num', text: 'Queries' }))),
    h('tbody', {}, points.map((p) => h('tr', {}, h('td', { text: p.date }), h('td', { class: 'num', text: fmtInt(p.tokens) }), h('td', { class: 'num', text: fmtInt(p.queries) })))));
  return h('div', {},
    h('div', { class: 'chart-wrap' }, root),
    h('details', { class: 'chart-table' }, h('summary', { text: 'Show as table' }), h('div', { class: 'table-wrap' }, table)));
}

// ---------- history ----------

function periodsBlock(page) {
  const body = h('tbody', { id: 'periods-body' });
  const more = h('button', { type: 'button', class: 'secondary more', id: 'periods-more', hidden: !page.next_cursor, onclick: morePeriods, text: 'Load more' });
  state.periodsCursor = page.next_cursor;
  appendPeriods(body, page.data);
  return h('section', { class: 'periods', 'aria-labelledby': 'periods-title' },
    h('h3', { id: 'periods-title', text: 'Closed periods' }),
    page.data.length === 0
      ? h('p', { class: 'muted', id: 'periods-empty', text: 'No period has closed yet.' })
      : h('div', { class: 'table-wrap' },
        h('table', { class: 'data stack', id: 'periods-table' },
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col', text: 'Period' }), h('th', { scope: 'col', text: 'Plan' }),
            h('th', { scope: 'col', class: 'num', text: 'Used' }), h('th', { scope: 'col', class: 'num', text: 'Allowance' }),
            h('th', { scope: 'col', class: 'num', text: 'Queries' }), h('th', { scope: 'col', class: 'num', text: 'Peak day' }))),
          body)),
    more);
}

function appendPeriods(body, periods) {
  for (const p of periods) {
    const pct = p.allocated_tokens > 0 ? (p.used_tokens / p.allocated_tokens) * 100 : 0;
    body.append(h('tr', {},
      h('td', { class: 'nowrap', 'data-label': 'Period', text: `${fmtDay(p.period_start)} → ${fmtDay(p.period_end)}` }),
      h('td', { 'data-label': 'Plan', text: p.plan_id }),
      h('td', { class: 'num', 'data-label': 'Used', text: `${fmtInt(p.used_tokens)} (${fmtDec(pct)}%)` }),
      h('td', { class: 'num', 'data-label': 'Allowance', text: fmtInt(p.allocated_tokens) }),
      h('td', { class: 'num', 'data-label': 'Queries', text: fmtInt(p.queries) }),
      h('td', { class: 'num', 'data-label': 'Peak day', text: fmtInt(p.peak_daily_tokens) })));
  }
}

async function morePeriods() {
  const sel = state.selected;
  if (!sel || !state.periodsCursor) return;
  try {
    const page = await api(`${subPath(sel.shop, sel.user)}/periods`, { limit: 12, cursor: state.periodsCursor });
    appendPeriods($('periods-body'), page.data);
    state.periodsCursor = page.next_cursor;
    $('periods-more').hidden = !page.next_cursor;
  } catch (error) {
    showProblem($('detail-error'), error);
  }
}

function planHistoryBlock(history, s) {
  const currentSince = history.length ? history[history.length - 1].end_date : s.started_at;
  const current = h('tr', { class: 'current-plan' },
    h('td', { 'data-label': 'Plan' }, s.plan_id, ' ', h('span', { class: 'badge badge-info', text: 'current' })),
    h('td', { class: 'nowrap', 'data-label': 'From', text: fmtDay(currentSince) }),
    h('td', { class: 'nowrap', 'data-label': 'To', text: s.status === 'canceled' ? fmtDay(s.canceled_at) : 'now' }),
    h('td', { class: 'num', 'data-label': 'Allowance', text: fmtInt(s.allocated_tokens) }),
    h('td', { 'data-label': 'Reason', text: s.pending_plan_id ? `${s.pending_plan_id} from the next period` : '' }));
  return h('section', { class: 'plan-history', 'aria-labelledby': 'history-title' },
    h('h3', { id: 'history-title', text: 'Plan history' }),
    history.length === 0 ? h('p', { class: 'muted', text: 'No plan changes.' }) : null,
    h('div', { class: 'table-wrap' },
        h('table', { class: 'data stack', id: 'plan-history-table' },
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col', text: 'Plan' }), h('th', { scope: 'col', text: 'From' }), h('th', { scope: 'col', text: 'To' }),
            h('th', { scope: 'col', class: 'num', text: 'Allowance' }), h('th', { scope: 'col', text: 'Reason' }))),
          h('tbody', {}, history.map((t) => h('tr', {},
            h('td', { 'data-label': 'Plan', text: t.plan_id }),
            h('td', { class: 'nowrap', 'data-label': 'From', text: fmtDay(t.start_date) }),
            h('td', { class: 'nowrap', 'data-label': 'To', text: fmtDay(t.end_date) }),
            h('td', { class: 'num', 'data-label': 'Allowance', text: fmtInt(t.allocated_tokens) }),
            h('td', { 'data-label': 'Reason', text: t.change_reason }))), current))));
}

// ---------- acting through the API ----------

/**
 * Writes carry an Idempotency-Key. One user intent keeps its key until it
 * succeeds: a double-click, or a retry after a lost answer, sends the same
 * key with the same body and so acts once. Another body is another intent.
 */
function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `dash-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

function intentOf(name) {
  let intent = state.intents.get(name);
  if (!intent) {
    intent = { name, key: null, request: null, busy: false };
    state.intents.set(name, intent);
  }
  return intent;
}

async function send(method, path, body, idempotencyKey) {
  const url = state.base.replace(/\/+$/, '') + path;
  const headers = { authorization: `Bearer ${state.key}`, accept: 'application/json' };
  if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ProblemError({ title: 'Server unreachable', status: 0, code: 'network_error', detail: `Could not reach ${state.base}: ${error.message}` });
  }
  const text = await response.text();
  let answer = null;
  try {
    answer = text ? JSON.parse(text) : null;
  } catch {
    answer = null;
  }
  if (!response.ok) {
    throw new ProblemError(answer && typeof answer === 'object' && typeof answer.detail === 'string'
      ? answer
      : { title: response.statusText || 'Request failed', status: response.status, code: 'http_error', detail: text.slice(0, 300) || `HTTP ${response.status}` });
  }
  return answer;
}

/**
 * Runs one intent: asks first when `confirm` says what cannot be undone,
 * shows the problem's detail in `slot` on failure, answers the API's answer
 * (or null). A click while the intent runs does nothing.
 */
async function act(name, { method, path, body, slot, controls = [], confirm }) {
  const intent = intentOf(name);
  if (intent.busy) return null;
  intent.busy = true;
  try {
    if (confirm && !(await confirmStep(confirm.message, confirm.action))) return null;
    const request = `${method} ${path} ${JSON.stringify(body ?? null)}`;
    if (intent.request !== request) intent.key = randomKey();
    intent.request = request;
    for (const control of controls) control.disabled = true;
    showProblem(slot, null);
    const answer = await send(method, path, body, intent.key);
    intent.request = null;
    return answer;
  } catch (error) {
    showProblem(slot, error);
    return null;
  } finally {
    intent.busy = false;
    for (const control of controls) control.disabled = false;
  }
}

function confirmStep(message, action) {
  const dialog = $('confirm-dialog');
  $('confirm-message').textContent = message;
  $('confirm-ok').textContent = action;
  const opener = document.activeElement;
  return new Promise((resolve) => {
    const done = (yes) => {
      $('confirm-ok').removeEventListener('click', onOk);
      $('confirm-keep').removeEventListener('click', onKeep);
      dialog.removeEventListener('cancel', onKeep);
      if (dialog.open) dialog.close();
      if (opener instanceof HTMLElement) opener.focus();
      resolve(yes);
    };
    const onOk = () => done(true);
    const onKeep = (event) => {
      event.preventDefault();
      done(false);
    };
    $('confirm-ok').addEventListener('click', onOk);
    $('confirm-keep').addEventListener('click', onKeep);
    dialog.addEventListener('cancel', onKeep);
    dialog.showModal();
    $('confirm-keep').focus();
  });
}

function formValues(form) {
  return Object.fromEntries(new FormData(form).entries());
}

function submitControls(form) {
  return [...form.querySelectorAll('button, input, select')];
}

// ---------- who is connected ----------

/** Admin keys may list API keys; a shop key is answered 403. Nothing else tells them apart. */
async function detectRole() {
  try {
    await api('/v1/api-keys', { limit: 1 });
    return 'admin';
  } catch (error) {
    if (error instanceof ProblemError && error.problem.status === 403) return 'shop';
    throw error;
  }
}

function applyRole() {
  const admin = state.role === 'admin';
  for (const el of document.querySelectorAll('.admin-only')) el.hidden = !admin;
  if (admin) loadKeys();
}

// ---------- plans: create, archive ----------

function plansByTier() {
  return [...state.plans.values()].sort((a, b) => a.tier - b.tier || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function planOptions(select, { includeArchived = false, selected } = {}) {
  select.replaceChildren(...plansByTier()
    .filter((p) => includeArchived || !p.archived)
    .map((p) => h('option', { value: p.id, text: `${p.display_name} (${p.id}) · ${fmtInt(p.allocated_tokens)} tokens · ${fmtMoney(p.price_minor, p.currency)}` })));
  if (selected) select.value = selected;
}

async function createPlan(event) {
  event.preventDefault();
  const form = $('plan-form');
  const v = formValues(form);
  const body = {
    id: v.id.trim(), display_name: v.display_name.trim(), allocated_tokens: Number(v.allocated_tokens), price_minor: Number(v.price_minor),
    currency: v.currency.trim().toUpperCase(), billing_cycle: v.billing_cycle, tier: Number(v.tier),
  };
  const plan = await act('plan-create', { method: 'POST', path: '/v1/plans', body, slot: $('plan-form-error'), controls: submitControls(form) });
  if (!plan) return;
  state.plans.set(plan.id, plan);
  drawPlans();
  form.reset();
  announce(`Plan ${plan.id} created.`);
}

async function archivePlan(plan) {
  const archived = await act(`plan-archive:${plan.id}`, {
    method: 'POST', path: `/v1/plans/${encodeURIComponent(plan.id)}/archive`, slot: $('plans-action-error'),
    confirm: { message: `Archive plan ${plan.id}? It takes no new subscriptions from now on; existing ones keep it. Archiving cannot be undone.`, action: 'Archive plan' },
  });
  if (!archived) return;
  state.plans.set(archived.id, archived);
  drawPlans();
  announce(`Plan ${archived.id} archived.`);
}

// ---------- subscriptions: create ----------

async function createSubscription(event) {
  event.preventDefault();
  const form = $('sub-form');
  const v = formValues(form);
  const shop = v.shop.trim();
  const user = v.user.trim();
  const sub = await act('sub-create', {
    method: 'PUT', path: subPath(shop, user), body: { plan_id: v.plan }, slot: $('sub-form-error'), controls: submitControls(form),
  });
  if (!sub) return;
  form.reset();
  if (state.role === 'shop') $('new-sub-shop').value = state.ownShop ?? '';
  announce(sub.message ?? `Subscription for ${user} saved.`);
  await loadSubscriptions(false);
  openSubscription(sub.shop_id, sub.user_id);
  if (state.shopShown === sub.shop_id) loadShop();
}

// ---------- one subscription: change plan, cancel, suspend, resume ----------

function changeExplanation(s, planId, when) {
  const next = state.plans.get(planId);
  if (!next) return '';
  if (next.id === s.plan_id) return `${s.user_id} is already on ${next.display_name}.`;
  const direction = next.allocated_tokens > s.allocated_tokens ? 'an upgrade' : next.allocated_tokens < s.allocated_tokens ? 'a downgrade' : 'a change';
  const cycle = next.billing_cycle !== s.billing_cycle ? ` It also changes billing from ${s.billing_cycle} to ${next.billing_cycle}, which only the period end allows.` : '';
  if (when === 'now') {
    const after = Math.max(0, next.allocated_tokens - s.used_tokens - s.reserved_tokens);
    return `Now: ${direction} to ${next.display_name} at once. This period's allowance becomes ${fmtInt(next.allocated_tokens)} tokens ` +
      `and the ${fmtInt(s.used_tokens)} used so far carry over, leaving ${fmtInt(after)} remaining.${cycle}`;
  }
  return `At period end: ${s.plan_display_name} stays until ${fmtInstant(s.current_period_end)} (${fmtInt(s.allocated_tokens)} tokens this period), ` +
    `then ${direction} to ${next.display_name} with ${fmtInt(next.allocated_tokens)} tokens from the next period.`;
}

function actionsBlock(s) {
  const sub = { shop: s.shop_id, user: s.user_id };
  const slot = h('div', { class: 'problem-slot', id: 'actions-error' });
  const live = s.status !== 'canceled';
  const after = async (answer, message) => {
    if (!answer) return;
    announce(message);
    await openSubscription(sub.shop, sub.user);
    loadSubscriptions(false);
    if (state.shopShown === sub.shop) loadShop();
  };

  const planSelect = h('select', { id: 'change-plan', name: 'plan' });
  planOptions(planSelect, { selected: s.plan_id });
  const explanation = h('p', { class: 'explain', id: 'change-explain', 'aria-live': 'polite' });
  const whenName = 'change-when';
  const changeForm = h('form', { id: 'change-form', class: 'action-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'change-plan', text: 'New plan' }), planSelect),
    h('fieldset', { class: 'choice' },
      h('legend', { text: 'Change takes effect' }),
      h('label', {}, h('input', { type: 'radio', name: whenName, value: 'now', checked: true }), ' Now'),
      h('label', {}, h('input', { type: 'radio', name: whenName, value: 'period_end' }), ' At period end')),
    explanation,
    h('button', { type: 'submit', text: 'Change plan' }));
  const explain = () => {
    explanation.textContent = changeExplanation(s, planSelect.value, changeForm.elements[whenName].value);
  };
  changeForm.addEventListener('change', explain);
  changeForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const answer = await act(`change:${sub.shop}/${sub.user}`, {
      method: 'PUT', path: subPath(sub.shop, sub.user), body: { plan_id: planSelect.value, when: changeForm.elements[whenName].value },
      slot, controls: submitControls(changeForm),
    });
    await after(answer, answer?.message ?? 'Plan changed.');
  });
  explain();

  const cancelForm = h('form', { id: 'cancel-form', class: 'action-form', novalidate: true },
    h('fieldset', { class: 'choice' },
      h('legend', { text: 'Cancel' }),
      h('label', {}, h('input', { type: 'radio', name: 'cancel-when', value: 'period_end', checked: true }), ' At period end'),
      h('label', {}, h('input', { type: 'radio', name: 'cancel-when', value: 'now' }), ' Now')),
    h('button', { type: 'submit', class: 'danger', text: 'Cancel subscription' }));
  cancelForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const now = cancelForm.elements['cancel-when'].value === 'now';
    const answer = await act(`cancel:${sub.shop}/${sub.user}`, {
      method: 'POST', path: `${subPath(sub.shop, sub.user)}/cancel`, body: { at_period_end: !now }, slot, controls: submitControls(cancelForm),
      confirm: now
        ? { message: `Cancel ${sub.user} in ${sub.shop} now? The subscription ends at once and its remaining tokens are lost. This cannot be undone.`, action: 'Cancel now' }
        : { message: `Cancel ${sub.user} in ${sub.shop} at the end of the period (${fmtInstant(s.current_period_end)})? Until then it works as before.`, action: 'Cancel at period end' },
    });
    await after(answer, now ? 'Subscription canceled.' : 'Subscription cancels at period end.');
  });

  const toggle = s.status === 'suspended'
    ? h('button', { type: 'button', id: 'resume-button', class: 'secondary', text: 'Resume' })
    : h('button', { type: 'button', id: 'suspend-button', class: 'secondary', text: 'Suspend' });
  toggle.addEventListener('click', async () => {
    const verb = s.status === 'suspended' ? 'resume' : 'suspend';
    const answer = await act(`${verb}:${sub.shop}/${sub.user}`, { method: 'POST', path: `${subPath(sub.shop, sub.user)}/${verb}`, slot, controls: [toggle] });
    await after(answer, verb === 'resume' ? 'Subscription resumed.' : 'Subscription suspended.');
  });

  if (!live) return h('section', { class: 'actions', 'aria-labelledby': 'actions-title' }, h('h3', { id: 'actions-title', text: 'Actions' }), h('p', { class: 'muted', text: 'A canceled subscription takes no actions; create a new one instead.' }));
  return h('section', { class: 'actions', 'aria-labelledby': 'actions-title' },
    h('h3', { id: 'actions-title', text: 'Actions' }),
    slot,
    h('div', { class: 'action-row' }, toggle),
    h('details', { class: 'create', id: 'change-details' }, h('summary', { text: 'Change plan…' }), changeForm),
    h('details', { class: 'create', id: 'cancel-details' }, h('summary', { text: 'Cancel…' }), cancelForm));
}

/** The upgrade advice's button: opens the change-plan form with that plan chosen. */
function offerChange(planId) {
  const details = $('change-details');
  if (!details) return;
  details.open = true;
  const select = $('change-plan');
  select.value = planId;
  select.dispatchEvent(new Event('change', { bubbles: true }));
  select.focus();
}

// ---------- API keys: create, revoke ----------

async function loadKeys() {
  try {
    const rows = [];
    let cursor;
    do {
      const page = await api('/v1/api-keys', { limit: 100, cursor });
      rows.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor && rows.length < 1000);
    drawKeys(rows);
  } catch (error) {
    showProblem($('keys-error'), error);
  }
}

function drawKeys(keys) {
  $('keys-body').replaceChildren(...keys.map((k) => {
    const revoke = k.revoked_at ? null : h('button', { type: 'button', class: 'secondary small-button', 'aria-label': `Revoke key ${k.name}`, text: 'Revoke' });
    revoke?.addEventListener('click', async () => {
      const answer = await act(`revoke:${k.id}`, {
        method: 'DELETE', path: `/v1/api-keys/${encodeURIComponent(k.id)}`, slot: $('keys-error'), controls: [revoke],
        confirm: { message: `Revoke key ${k.name} (${k.prefix}…)? Every request with it is refused from now on. This cannot be undone.`, action: 'Revoke key' },
      });
      if (answer) {
        announce(`Key ${k.name} revoked.`);
        loadKeys();
      }
    });
    return h('tr', { 'data-key-id': k.id, class: k.revoked_at ? 'archived' : null },
      h('td', { class: 'wrap-anywhere' },
        h('span', { class: 'plan-name', text: k.name }),
        h('span', { class: 'muted small block', text: `${k.prefix}… · created ${fmtDay(k.created_at)}` }),
        k.revoked_at ? h('span', { class: 'badge badge-canceled', text: `revoked ${fmtDay(k.revoked_at)}` }) : null),
      h('td', { text: k.role === 'shop' ? `shop ${k.shop_id}` : 'admin' }),
      h('td', {}, revoke));
  }));
}

async function createKey(event) {
  event.preventDefault();
  const form = $('key-form');
  const v = formValues(form);
  const body = { name: v.name.trim(), role: v.role };
  if (v.role === 'shop') body.shop_id = v.shop_id.trim();
  const created = await act('key-create', { method: 'POST', path: '/v1/api-keys', body, slot: $('key-form-error'), controls: submitControls(form) });
  if (!created) return;
  form.reset();
  showNewKey(created);
  loadKeys();
}

function showNewKey(created) {
  const box = $('new-key');
  const status = h('span', { class: 'muted small', 'aria-live': 'polite' });
  const copy = h('button', { type: 'button', class: 'secondary', text: 'Copy key' });
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(created.key);
      status.textContent = 'Copied.';
    } catch {
      $('new-key-value').select();
      status.textContent = 'Select the key and copy it by hand.';
    }
  });
  const dismiss = h('button', { type: 'button', class: 'link', text: 'Done, hide it' });
  dismiss.addEventListener('click', () => {
    box.replaceChildren();
    box.hidden = true;
  });
  box.replaceChildren(
    h('p', {}, h('strong', { text: `Key ${created.name} created.` }), ' It is shown this once: copy it now.'),
    h('div', { class: 'field' }, h('label', { for: 'new-key-value', text: 'New API key' }),
      h('input', { id: 'new-key-value', type: 'text', readonly: true, value: created.key, spellcheck: 'false' })),
    h('div', { class: 'action-row' }, copy, dismiss, status));
  box.hidden = false;
  $('new-key-value').focus();
}

// ---------- the shop view ----------

async function loadShop(appendRows = false) {
  const shop = state.shopShown;
  if (!shop) return;
  const ticket = ++state.shopRequest;
  showProblem($('shop-error'), null);
  try {
    const overview = await api(`/v1/shops/${encodeURIComponent(shop)}/overview`, { limit: 25, cursor: appendRows ? state.shopCursor : undefined });
    if (ticket !== state.shopRequest) return;
    drawShop(overview, appendRows);
  } catch (error) {
    if (ticket === state.shopRequest) showProblem($('shop-error'), error);
  }
}

function showShop(shop) {
  state.shopShown = shop || null;
  $('shop-panel').hidden = !shop;
  $('shop-title').textContent = shop ? `Shop ${shop}` : 'Shop view';
  if (shop) loadShop();
}

const shopChartOptions = { titleId: 'shop-chart-desc', widthOf: 'shop-chart-slot', remember: false, tableId: 'shop-daily-table' };

function drawShop(o, appendRows) {
  state.shopCursor = o.subscriptions.next_cursor;
  if (!appendRows) state.shopDaily = o.daily;
  if (appendRows) {
    $('shop-subs-body').append(...o.subscriptions.data.map(shopRow));
    $('shop-more').hidden = !o.subscriptions.next_cursor;
    return;
  }
  const byStatus = { active: 0, suspended: 0, canceled: 0 };
  const byPlan = new Map();
  for (const c of o.counts) {
    byStatus[c.status] = (byStatus[c.status] ?? 0) + c.subscriptions;
    const row = byPlan.get(c.plan_id) ?? { active: 0, suspended: 0, canceled: 0 };
    row[c.status] = c.subscriptions;
    byPlan.set(c.plan_id, row);
  }
  const tierOf = (id) => state.plans.get(id)?.tier ?? Number.MAX_SAFE_INTEGER;
  const planIds = [...byPlan.keys()].sort((a, b) => tierOf(a) - tierOf(b) || (a < b ? -1 : 1));
  const counts = h('table', { class: 'data compact', id: 'shop-counts' },
    h('caption', { text: 'Subscriptions by plan and status' }),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Plan' }),
      ...['active', 'suspended', 'canceled'].map((st) => h('th', { scope: 'col', class: 'num', text: st })))),
    h('tbody', {}, planIds.map((id) => h('tr', { 'data-plan': id }, h('th', { scope: 'row', text: id }),
      ...['active', 'suspended', 'canceled'].map((st) => h('td', { class: 'num', text: fmtInt(byPlan.get(id)[st]) }))))),
    h('tfoot', {}, h('tr', {}, h('th', { scope: 'row', text: 'All plans' }),
      ...['active', 'suspended', 'canceled'].map((st) => h('td', { class: 'num', 'data-status': st, text: fmtInt(byStatus[st]) })))));
  const atRisk = o.subscriptions.data.some((s) => s.at_risk);
  const table = h('table', { class: 'data stack shop-subs', id: 'shop-subs', 'aria-labelledby': 'shop-subs-title', 'aria-describedby': 'shop-subs-order' },

    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', text: 'User' }), h('th', { scope: 'col', text: 'Plan' }),
      h('th', { scope: 'col', class: 'num', 'aria-sort': 'descending', text: 'Usage' }), h('th', { scope: 'col', text: 'Risk' }))),
    h('tbody', { id: 'shop-subs-body' }, o.subscriptions.data.map(shopRow)));
  const more = h('button', { type: 'button', class: 'secondary more', id: 'shop-more', hidden: !o.subscriptions.next_cursor, text: 'More subscriptions' });
  more.addEventListener('click', () => loadShop(true));
  $('shop-body').replaceChildren();
  append($('shop-body'), [
    h('div', { class: 'shop-grid' },
      h('div', { class: 'table-wrap' }, counts),
      h('section', { class: 'chart-section', 'aria-labelledby': 'shop-chart-title' },
        h('h3', { id: 'shop-chart-title', text: `Tokens per day, ${o.daily.from} → ${o.daily.to}` }),
        h('div', { id: 'shop-chart-slot' }))),
    h('h3', { id: 'shop-subs-title', text: 'Subscriptions by usage' }),
    h('p', { class: 'muted small', id: 'shop-subs-order', text: 'Live subscriptions: at risk first (past 75 % or running out before the period ends at this period\'s pace), then by usage, highest first.' }),
    atRisk || !o.subscriptions.data.length ? null : h('p', { class: 'muted', text: 'No subscription is at risk.' }),
    h('div', { class: 'table-wrap' }, table),
    more,
  ]);
  // Drawn once in place, at the width it is shown at.
  $('shop-chart-slot').append(chart(o.daily, shopChartOptions));
}

function shopRow(s) {
  const pct = s.usage_percentage;
  const risk = s.past_75 && s.runs_out_in_period ? 'past 75 %, runs out' : s.past_75 ? 'past 75 %' : s.runs_out_in_period ? 'runs out this period' : '';
  return h('tr', { 'data-user': s.user_id, class: s.at_risk ? 'at-risk' : null },
    h('td', { 'data-label': 'User' }, h('div', {},
      h('button', { type: 'button', class: 'link', 'aria-label': `Open ${s.user_id} in ${s.shop_id}`, text: s.user_id, onclick: () => openSubscription(s.shop_id, s.user_id) }),
      s.status === 'suspended' ? h('span', { class: 'badge badge-suspended block-badge', text: 'suspended' }) : null)),
    h('td', { 'data-label': 'Plan', text: s.plan_display_name }),
    h('td', { class: 'num', 'data-label': 'Usage' }, h('div', {},
      h('span', { text: `${fmtDec(pct)}%` }),
      h('span', { class: 'muted small block', text: `${fmtInt(s.used_tokens)} / ${fmtInt(s.allocated_tokens)}` }),
      h('span', { class: 'minibar', role: 'img', 'aria-label': `${fmtDec(pct)}% used` }, minibarFill(pct)))),
    h('td', { 'data-label': 'Risk' }, risk ? h('span', { class: 'badge badge-risk', text: risk }) : h('span', { class: 'muted', text: '—' })));
}

function announce(message) {
  const live = $('announce');
  live.textContent = '';
  requestAnimationFrame(() => {
    live.textContent = message;
  });
}

// ---------- start ----------

function start() {
  const savedBase = sessionStorage.getItem(BASE_ITEM);
  $('base-url').value = savedBase || location.origin;
  $('connect').addEventListener('submit', (event) => {
    event.preventDefault();
    const key = $('api-key').value.trim();
    const base = $('base-url').value.trim() || location.origin;
    if (!key) {
      showProblem($('connect-error'), new ProblemError({ title: 'API key needed', status: 0, detail: 'Enter an API key to connect.' }));
      $('api-key').focus();
      return;
    }
    connect(key, base);
  });
  $('disconnect').addEventListener('click', disconnect);
  $('filters').addEventListener('submit', (event) => {
    event.preventDefault();
    loadSubscriptions(false);
    showShop($('filter-shop').value.trim() || state.ownShop);
  });
  $('plan-form').addEventListener('submit', createPlan);
  $('sub-form').addEventListener('submit', createSubscription);
  $('key-form').addEventListener('submit', createKey);
  $('shop-refresh').addEventListener('click', () => loadShop());
  $('filter-status').addEventListener('change', () => loadSubscriptions(false));
  $('subs-more').addEventListener('click', () => loadSubscriptions(true));
  $('plans-more').addEventListener('click', morePlans);
  let resizeQueued = false;
  window.addEventListener('resize', () => {
    if (resizeQueued) return;
    resizeQueued = true;
    requestAnimationFrame(() => {
      resizeQueued = false;
      const slot = $('chart-slot');
      if (slot && state.daily && slot.querySelector('svg.chart')) {
        const open = slot.querySelector('details')?.open ?? false;
        slot.replaceChildren(chart(state.daily));
        if (open) slot.querySelector('details').open = true;
      }
      const shopSlot = $('shop-chart-slot');
      if (shopSlot && state.shopDaily) {
        const open = shopSlot.querySelector('details')?.open ?? false;
        shopSlot.replaceChildren(chart(state.shopDaily, shopChartOptions));
        if (open) shopSlot.querySelector('details').open = true;
      }
    });
  });
  window.addEventListener('hashchange', () => {
    const wanted = parseHash();
    if (wanted && state.key && (!state.selected || wanted.shop !== state.selected.shop || wanted.user !== state.selected.user)) {
      openSubscription(wanted.shop, wanted.user);
    }
  });
  const savedKey = sessionStorage.getItem(KEY_ITEM);
  if (savedKey) connect(savedKey, savedBase || location.origin);
  else $('api-key').focus();
}

start();
