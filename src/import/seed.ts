/**
 * The seed's two collections, `subscriptions` and `token_usage`, read into
 * typed records. Pure: a decoded document in, a record or the reasons it
 * cannot be imported out; fields allot does not know are listed, not fatal.
 */
import type { DailyPoint } from '../domain/analytics.ts';
import { isoDay } from '../domain/clock.ts';
import type { BillingCycle, SubscriptionStatus } from '../domain/model.ts';
import { toMinorUnits } from './money.ts';

export const IDENTIFIER = /^[A-Za-z0-9._:@-]{1,128}$/;
const MAX_TOKENS = 1e12;

export interface SeedPlanTerms {
  name: string;
  display_name: string;
  allocated_tokens: number;
  price_minor: number;
  currency: string;
  billing_cycle: BillingCycle;
}

export interface SeedTenure {
  plan: string;
  tokens: number;
  price_minor: number;
  start_date: number;
  end_date: number;
  change_reason: string;
}

export interface SeedSubscription {
  mongo_id: string;
  line: number;
  shop_id: string;
  user_id: string;
  plan: SeedPlanTerms;
  status: SubscriptionStatus;
  started_at: number;
  current_period_start: number;
  current_period_end: number;
  next_billing_date: number;
  created_at: number | null;
  updated_at: number | null;
  plan_history: SeedTenure[];
  /** Plan history entries left out, with why. */
  dropped_history: string[];
}

export interface SeedUsage {
  mongo_id: string | null;
  line: number;
  shop_id: string;
  user_id: string;
  subscription_id: string | null;
  used_tokens: number;
  current_period_start: number | null;
  total_queries: number | null;
  daily: DailyPoint[];
}

export type Read<T> = { ok: true; record: T; unknownFields: string[] } | { ok: false; reason: string; unknownFields: string[] };

/** Fields the seed writes; the ones allot derives again or has no use for are read and dropped. */
const SUBSCRIPTION_FIELDS = new Set([
  '_id', 'user_id', 'shop_id', 'plan_name', 'plan_display_name', 'allocated_tokens', 'monthly_fee', 'currency',
  'billing_cycle', 'subscription_start_date', 'current_period_start', 'current_period_end', 'next_billing_date',
  'status', 'plan_history', 'created_at', 'updated_at',
]);
const USAGE_FIELDS = new Set([
  '_id', 'user_id', 'shop_id', 'subscription_id', 'used_tokens', 'current_period_start', 'current_period_end',
  'daily_usage', 'weekly_usage', 'total_queries', 'avg_tokens_per_query', 'peak_daily_usage', 'monthly_summary',
  'last_updated', 'created_at', 'updated_at',
]);

const LIVE_STATUSES: Record<string, SubscriptionStatus> = { active: 'active', suspended: 'suspended' };
const ENDED_STATUSES = new Set(['canceled', 'cancelled', 'expired', 'inactive', 'ended']);

class Invalid extends Error {}

class Fields {
  constructor(readonly doc: Record<string, unknown>) {}

  has(name: string): boolean {
    return this.doc[name] !== undefined && this.doc[name] !== null;
  }

  text(name: string): string {
    const v = this.doc[name];
    if (typeof v === 'string' && v.trim() !== '') return v.trim();
    if (typeof v === 'number' && Number.isInteger(v)) return String(v);
    throw new Invalid(this.has(name) ? `${name} must be a non-empty string` : `${name} is missing`);
  }

  identifier(name: string): string {
    const v = this.text(name);
    if (!IDENTIFIER.test(v)) throw new Invalid(`${name} ${JSON.stringify(v)} is not 1–128 characters of A-Za-z0-9._:@-`);
    return v;
  }

  tokens(name: string, fallback?: number): number {
    if (!this.has(name) && fallback !== undefined) return fallback;
    return tokenCount(this.doc[name], name);
  }

  instant(name: string): number {
    return instant(this.doc[name], name);
  }

  optionalInstant(name: string): number | null {
    return this.has(name) ? this.instant(name) : null;
  }
}

function tokenCount(v: unknown, name: string): number {
  if (v === undefined || v === null) throw new Invalid(`${name} is missing`);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_TOKENS) {
    throw new Invalid(`${name} must be an integer from 0 to 10^12, got ${JSON.stringify(v)}`);
  }
  return v;
}

function instant(v: unknown, name: string): number {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string') {
    // The seed stored naive UTC datetimes; a string without a zone is UTC too.
    const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(v) || /^\d{4}-\d\d-\d\d$/.test(v) ? v : `${v}Z`);
    if (Number.isFinite(ms)) return ms;
  }
  throw new Invalid(v === undefined || v === null ? `${name} is missing` : `${name} is not a date: ${JSON.stringify(v)}`);
}

/** A document id as the seed's `str(ObjectId)` writes it (ObjectIds in lower-case hex). */
function mongoId(v: unknown): string | null {
  if (typeof v === 'string' && v !== '') return /^[0-9a-fA-F]{24}$/.test(v) ? v.toLowerCase() : v;
  if (typeof v === 'number') return String(v);
  return null;
}

function unknownFields(doc: Record<string, unknown>, known: Set<string>): string[] {
  return Object.keys(doc).filter((k) => !known.has(k));
}

/** Runs `read`, prefixing a failure with the field's path. */
function at<T>(path: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof Error) throw new Invalid(`${path}: ${error.message}`);
    throw error;
  }
}

function tenure(entry: unknown, i: number, currency: string): SeedTenure {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new Invalid(`plan_history[${i}] is not an object`);
  const f = new Fields(entry as Record<string, unknown>);
  const path = `plan_history[${i}]`;
  const start = at(path, () => f.instant('start_date'));
  const end = at(path, () => f.instant('end_date'));
  if (end < start) throw new Invalid(`${path} ends before it starts`);
  return {
    plan: at(path, () => f.text('plan')),
    tokens: at(path, () => f.tokens('tokens')),
    price_minor: at(`${path}.fee`, () => toMinorUnits(f.doc.fee, currency)),
    start_date: start,
    end_date: end,
    change_reason: typeof f.doc.change_reason === 'string' && f.doc.change_reason !== '' ? f.doc.change_reason : 'change',
  };
}

export function readSubscription(doc: Record<string, unknown>, line: number): Read<SeedSubscription> {
  const unknown = unknownFields(doc, SUBSCRIPTION_FIELDS);
  try {
    const f = new Fields(doc);
    const id = mongoId(doc._id);
    if (!id) throw new Invalid('_id is missing');
    const currency = f.text('currency').toUpperCase();
    if (!/^[A-Z]{3}$/.test(currency)) throw new Invalid(`currency ${JSON.stringify(currency)} is not an ISO 4217 code`);
    const cycle = f.text('billing_cycle');
    if (cycle !== 'monthly' && cycle !== 'yearly') throw new Invalid(`billing_cycle ${JSON.stringify(cycle)} is neither monthly nor yearly`);
    let price: number;
    try {
      price = toMinorUnits(doc.monthly_fee, currency);
    } catch (error) {
      throw new Invalid(doc.monthly_fee === undefined ? 'monthly_fee is missing' : `monthly_fee ${(error as Error).message}`);
    }
    const rawStatus = f.text('status').toLowerCase();
    const status: SubscriptionStatus | undefined = LIVE_STATUSES[rawStatus] ?? (ENDED_STATUSES.has(rawStatus) ? 'canceled' : undefined);
    if (!status) throw new Invalid(`status ${JSON.stringify(rawStatus)} is unknown`);
    const name = f.text('plan_name');
    const periodStart = f.instant('current_period_start');
    const periodEnd = f.instant('current_period_end');
    if (periodEnd <= periodStart) throw new Invalid('current_period_end is not after current_period_start');
    const history: SeedTenure[] = [];
    const dropped: string[] = [];
    if (f.has('plan_history')) {
      if (!Array.isArray(doc.plan_history)) throw new Invalid('plan_history is not an array');
      doc.plan_history.forEach((entry, i) => {
        try {
          history.push(tenure(entry, i, currency));
        } catch (error) {
          if (!(error instanceof Invalid)) throw error;
          dropped.push(error.message);
        }
      });
    }
    const record: SeedSubscription = {
      mongo_id: id,
      line,
      shop_id: f.identifier('shop_id'),
      user_id: f.identifier('user_id'),
      plan: {
        name,
        display_name: f.has('plan_display_name') ? f.text('plan_display_name') : name,
        allocated_tokens: f.tokens('allocated_tokens'),
        price_minor: price,
        currency,
        billing_cycle: cycle,
      },
      status,
      started_at: f.has('subscription_start_date') ? f.instant('subscription_start_date') : periodStart,
      current_period_start: periodStart,
      current_period_end: periodEnd,
      next_billing_date: f.has('next_billing_date') ? f.instant('next_billing_date') : periodEnd,
      created_at: f.optionalInstant('created_at'),
      updated_at: f.optionalInstant('updated_at'),
      plan_history: history,
      dropped_history: dropped,
    };
    return { ok: true, record, unknownFields: unknown };
  } catch (error) {
    if (!(error instanceof Invalid)) throw error;
    return { ok: false, reason: error.message, unknownFields: unknown };
  }
}

function dailyPoints(v: unknown): DailyPoint[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Invalid('daily_usage is not an array');
  const byDay = new Map<string, DailyPoint>();
  v.forEach((entry, i) => {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new Invalid(`daily_usage[${i}] is not an object`);
    const e = entry as Record<string, unknown>;
    const date = isoDay(instant(e.date, `daily_usage[${i}].date`));
    const tokens = tokenCount(e.tokens ?? 0, `daily_usage[${i}].tokens`);
    const queries = tokenCount(e.queries ?? 0, `daily_usage[${i}].queries`);
    const seen = byDay.get(date);
    byDay.set(date, { date, tokens: (seen?.tokens ?? 0) + tokens, queries: (seen?.queries ?? 0) + queries });
  });
  return [...byDay.values()].sort((a, b) => a.date.localeCompare(b.date));
}

export function readUsage(doc: Record<string, unknown>, line: number): Read<SeedUsage> {
  const unknown = unknownFields(doc, USAGE_FIELDS);
  try {
    const f = new Fields(doc);
    const record: SeedUsage = {
      mongo_id: mongoId(doc._id),
      line,
      shop_id: f.identifier('shop_id'),
      user_id: f.identifier('user_id'),
      subscription_id: f.has('subscription_id') ? mongoId(f.text('subscription_id')) : null,
      used_tokens: f.tokens('used_tokens', 0),
      current_period_start: f.optionalInstant('current_period_start'),
      total_queries: f.has('total_queries') ? f.tokens('total_queries') : null,
      daily: dailyPoints(doc.daily_usage),
    };
    return { ok: true, record, unknownFields: unknown };
  } catch (error) {
    if (!(error instanceof Invalid)) throw error;
    return { ok: false, reason: error.message, unknownFields: unknown };
  }
}
