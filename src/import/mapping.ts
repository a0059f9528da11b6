/**
 * From the seed's records to allot's: plans derived from the subscriptions'
 * terms, and subscriptions whose current period stays exactly as imported.
 * Pure: the caller passes what the database already holds and `now`.
 */
import { createHash } from 'node:crypto';
import type { DailyPoint } from '../domain/analytics.ts';
import { isoDay, startOfDay } from '../domain/clock.ts';
import type { Plan, PlanTenure, Subscription } from '../domain/model.ts';
import type { Interval } from '../domain/periods.ts';
import { newId } from '../service/ids.ts';
import type { SeedPlanTerms, SeedSubscription, SeedUsage } from './seed.ts';

/** The seed gave a yearly plan its tokens for the whole 365-day period: keep that allowance. */
export function allowanceInterval(terms: Pick<SeedPlanTerms, 'billing_cycle'>): Interval {
  return terms.billing_cycle === 'yearly' ? 'year' : 'month';
}

function termsKey(t: SeedPlanTerms): string {
  return JSON.stringify([t.name, t.allocated_tokens, t.price_minor, t.currency, t.billing_cycle]);
}

function sameTerms(plan: Plan, t: SeedPlanTerms): boolean {
  return (
    plan.allocated_tokens === t.allocated_tokens &&
    plan.price_minor === t.price_minor &&
    plan.currency === t.currency &&
    plan.billing_cycle === t.billing_cycle &&
    plan.allowance_interval === allowanceInterval(t)
  );
}

function baseId(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9._:@-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 120);
  return cleaned || 'plan';
}

export interface PlanAssignment {
  /** Plans to create. */
  created: Plan[];
  /** Existing plans with the same id and terms, used as they are. */
  reused: string[];
  /** Plans whose id is not the seed's plan_name, and why. */
  renamed: Array<{ plan_name: string; plan_id: string; reason: string }>;
  /** The plan id for a subscription's terms. */
  idFor(terms: SeedPlanTerms): string;
  /** The plan id a plan-history entry names: the plan with that name and those terms, else the name. */
  historyId(name: string, tokens: number, priceMinor: number): string;
}

/**
 * One plan per distinct (plan_name, allocated_tokens, fee, currency, cycle),
 * in order of first appearance: the first takes the name as id, another set
 * of terms under the same name becomes `name-2`, `name-3`, … An existing
 * plan with the same id and terms is reused, so a second run creates none.
 * Tiers of new plans rank allowances ascending (equal allowances share one).
 */
export function assignPlans(subs: readonly SeedSubscription[], existing: readonly Plan[], now: number): PlanAssignment {
  const byId = new Map(existing.map((p) => [p.id, p]));
  const groups = new Map<string, SeedPlanTerms>();
  for (const sub of subs) if (!groups.has(termsKey(sub.plan))) groups.set(termsKey(sub.plan), sub.plan);

  const allowances = [...new Set([...groups.values()].map((t) => t.allocated_tokens))].sort((a, b) => a - b);
  const ids = new Map<string, string>();
  const taken = new Set<string>();
  const created: Plan[] = [];
  const reused: string[] = [];
  const renamed: PlanAssignment['renamed'] = [];

  for (const [key, terms] of groups) {
    const base = baseId(terms.name);
    for (let n = 1; ; n++) {
      const id = n === 1 ? base : `${base}-${n}`;
      if (taken.has(id)) continue;
      const found = byId.get(id);
      if (found && !sameTerms(found, terms)) continue;
      taken.add(id);
      ids.set(key, id);
      if (found) reused.push(id);
      else {
        created.push({
          id,
          display_name: terms.display_name,
          allocated_tokens: terms.allocated_tokens,
          price_minor: terms.price_minor,
          currency: terms.currency,
          billing_cycle: terms.billing_cycle,
          allowance_interval: allowanceInterval(terms),
          tier: allowances.indexOf(terms.allocated_tokens) + 1,
          archived: false,
          created_at: now,
        });
      }
      if (id !== terms.name) {
        renamed.push({
          plan_name: terms.name,
          plan_id: id,
          reason:
            base !== terms.name && n === 1
              ? 'plan_name has characters a plan id cannot hold'
              : `another plan already uses id ${base} with other terms (${terms.allocated_tokens} tokens, ${terms.price_minor} ${terms.currency} minor units, ${terms.billing_cycle})`,
        });
      }
      break;
    }
  }

  return {
    created,
    reused,
    renamed,
    idFor: (terms) => ids.get(termsKey(terms))!,
    historyId(name, tokens, priceMinor) {
      for (const [key, terms] of groups) {
        if (terms.name === name && terms.allocated_tokens === tokens && terms.price_minor === priceMinor) return ids.get(key)!;
      }
      for (const [key, terms] of groups) if (terms.name === name) return ids.get(key)!;
      return baseId(name);
    },
  };
}

/**
 * The subscription's id, the same on every run: the time part from when the
 * seed created it, the rest from its MongoDB `_id`.
 */
export function importedSubscriptionId(seed: SeedSubscription): string {
  const digest = createHash('sha256').update(`mongo:${seed.mongo_id}`).digest();
  return newId('sub', seed.created_at ?? seed.started_at, digest.subarray(0, 16));
}

/**
 * The imported subscription. Its current period is kept exactly (the seed's
 * 30-day month included): `period_anchor` is the period's end with index −1,
 * so period 0 starts there and the calendar rules apply from then on. Billing
 * dates count from the seed's `next_billing_date` the same way.
 */
export function importedSubscription(seed: SeedSubscription, plan: Plan, usage: SeedUsage | null, now: number): Subscription {
  const lastChange = seed.plan_history.reduce<number | null>((last, t) => (last === null || t.end_date > last ? t.end_date : last), null);
  const daily = usage?.daily ?? [];
  return {
    id: importedSubscriptionId(seed),
    shop_id: seed.shop_id,
    user_id: seed.user_id,
    plan_id: plan.id,
    plan_display_name: seed.plan.display_name,
    status: seed.status,
    billing_cycle: plan.billing_cycle,
    allowance_interval: plan.allowance_interval,
    allocated_tokens: seed.plan.allocated_tokens,
    price_minor: seed.plan.price_minor,
    currency: seed.plan.currency,
    started_at: seed.started_at,
    period_anchor: seed.current_period_end,
    period_index: -1,
    current_period_start: seed.current_period_start,
    current_period_end: seed.current_period_end,
    billing_anchor: seed.next_billing_date,
    plan_started_at: lastChange ?? seed.started_at,
    cancel_at_period_end: false,
    pending_plan_id: null,
    used_tokens: usage?.used_tokens ?? 0,
    reserved_tokens: 0,
    queries: usage?.total_queries ?? daily.reduce((sum, d) => sum + d.queries, 0),
    canceled_at: seed.status === 'canceled' ? (seed.updated_at ?? Math.min(seed.current_period_end, now)) : null,
    created_at: seed.created_at ?? seed.started_at,
    updated_at: seed.updated_at ?? now,
  };
}

export function importedTenure(seed: SeedSubscription, plans: PlanAssignment): PlanTenure[] {
  return seed.plan_history.map((t) => ({
    plan_id: plans.historyId(t.plan, t.tokens, t.price_minor),
    allocated_tokens: t.tokens,
    price_minor: t.price_minor,
    start_date: t.start_date,
    end_date: t.end_date,
    change_reason: t.change_reason,
  }));
}

/** Splits daily usage into the days of the current period (from its first UTC day) and the others. */
export function periodDays(daily: readonly DailyPoint[], periodStart: number, periodEnd: number): { inside: DailyPoint[]; outside: DailyPoint[] } {
  const first = isoDay(startOfDay(periodStart));
  const last = isoDay(periodEnd - 1);
  const inside: DailyPoint[] = [];
  const outside: DailyPoint[] = [];
  for (const point of daily) (point.date >= first && point.date <= last ? inside : outside).push(point);
  return { inside, outside };
}
