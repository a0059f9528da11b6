/**
 * Importing the seed's MongoDB export: plans, subscriptions with their
 * anchors and current periods, current usage, daily usage and plan history.
 * Each subscription is written in its own transaction with everything that
 * belongs to it, under an id derived from its MongoDB `_id`, so running the
 * import again adds nothing and an interrupted run can simply be repeated.
 */
import { isoInstant } from '../domain/clock.ts';
import type { Plan } from '../domain/model.ts';
import type { Services } from '../service/context.ts';
import { UniqueViolation } from '../store/db.ts';
import {
  allPlans, appendPlanTenure, findSubscriptionById, insertLiveSubscription, insertPeriodSummary, insertPlan, markImportedPeriod,
} from '../store/subscriptions.ts';
import { insertDailyUsage } from '../store/usage.ts';
import { parseExport } from './extended-json.ts';
import { assignPlans, importedSubscription, importedTenure, periodDays, type PlanAssignment } from './mapping.ts';
import { readSubscription, readUsage, type SeedSubscription, type SeedUsage } from './seed.ts';

export type Collection = 'subscriptions' | 'token_usage';

export interface SkippedDocument {
  collection: Collection;
  line: number;
  id: string | null;
  reason: string;
}

export interface ImportReport {
  plans: { created: string[]; reused: string[]; renamed: PlanAssignment['renamed'] };
  subscriptions: { read: number; imported: number; already_imported: number; skipped: number };
  token_usage: { read: number; imported: number; skipped: number };
  daily_usage_days: number;
  plan_history_entries: number;
  skipped: SkippedDocument[];
  /** Fields allot does not know, per collection, with how many documents had them; they were not imported. */
  unknown_fields: Array<{ collection: Collection; field: string; documents: number }>;
  /** Imported, but with something left out or worth a look. */
  warnings: string[];
}

export interface ImportInput {
  /** The `subscriptions` collection as mongoexport wrote it. */
  subscriptions: string;
  /** The `token_usage` collection, if exported. */
  tokenUsage?: string;
}

export type Progress = (done: number, total: number) => void;

const CONCURRENCY = 256;

interface Accepted {
  seed: SeedSubscription;
  usage: SeedUsage | null;
}

const pair = (shop: string, user: string) => `${shop}\u0000${user}`;

export async function importSeedExport(services: Services, input: ImportInput, onProgress?: Progress): Promise<ImportReport> {
  const report: ImportReport = {
    plans: { created: [], reused: [], renamed: [] },
    subscriptions: { read: 0, imported: 0, already_imported: 0, skipped: 0 },
    token_usage: { read: 0, imported: 0, skipped: 0 },
    daily_usage_days: 0,
    plan_history_entries: 0,
    skipped: [],
    unknown_fields: [],
    warnings: [],
  };
  const unknown = new Map<string, { collection: Collection; field: string; documents: number }>();
  const noteUnknown = (collection: Collection, fields: string[]) => {
    for (const field of fields) {
      const key = `${collection}.${field}`;
      const seen = unknown.get(key) ?? { collection, field, documents: 0 };
      seen.documents++;
      unknown.set(key, seen);
    }
  };
  const skip = (collection: Collection, line: number, id: string | null, reason: string) => {
    report.skipped.push({ collection, line, id, reason });
    report[collection].skipped++;
  };

  // Subscriptions: read, then keep one per _id and one live one per (shop, user).
  const accepted = new Map<string, Accepted>();
  const livePairs = new Map<string, SeedSubscription>();
  const seenIds = new Map<string, number>();
  for (const doc of parseExport(input.subscriptions)) {
    report.subscriptions.read++;
    if (!doc.ok) {
      skip('subscriptions', doc.line, null, doc.reason);
      continue;
    }
    const read = readSubscription(doc.value, doc.line);
    noteUnknown('subscriptions', read.unknownFields);
    const rawId = typeof doc.value._id === 'string' ? doc.value._id : null;
    if (!read.ok) {
      skip('subscriptions', doc.line, rawId, read.reason);
      continue;
    }
    const seed = read.record;
    const firstLine = seenIds.get(seed.mongo_id);
    if (firstLine !== undefined) {
      skip('subscriptions', doc.line, seed.mongo_id, `duplicate _id (first on line ${firstLine})`);
      continue;
    }
    seenIds.set(seed.mongo_id, doc.line);
    if (seed.status !== 'canceled') {
      const kept = livePairs.get(pair(seed.shop_id, seed.user_id));
      if (kept) {
        skip('subscriptions', doc.line, seed.mongo_id,
          `duplicate live subscription for shop ${seed.shop_id}, user ${seed.user_id} (kept _id ${kept.mongo_id} from line ${kept.line})`);
        continue;
      }
      livePairs.set(pair(seed.shop_id, seed.user_id), seed);
    }
    for (const dropped of seed.dropped_history) report.warnings.push(`subscription ${seed.mongo_id}: left out ${dropped}`);
    accepted.set(seed.mongo_id, { seed, usage: null });
  }

  // Token usage: each document belongs to one imported subscription and its current period.
  const skippedSubs = new Set(report.skipped.map((s) => s.id).filter((id): id is string => id !== null));
  for (const doc of input.tokenUsage === undefined ? [] : parseExport(input.tokenUsage)) {
    report.token_usage.read++;
    if (!doc.ok) {
      skip('token_usage', doc.line, null, doc.reason);
      continue;
    }
    const read = readUsage(doc.value, doc.line);
    noteUnknown('token_usage', read.unknownFields);
    if (!read.ok) {
      skip('token_usage', doc.line, typeof doc.value._id === 'string' ? doc.value._id : null, read.reason);
      continue;
    }
    const usage = read.record;
    const target = usage.subscription_id !== null
      ? accepted.get(usage.subscription_id)
      : (() => {
          const live = livePairs.get(pair(usage.shop_id, usage.user_id));
          return live && accepted.get(live.mongo_id);
        })();
    if (!target) {
      const why = usage.subscription_id !== null && skippedSubs.has(usage.subscription_id)
        ? `its subscription ${usage.subscription_id} was skipped`
        : `no subscription ${usage.subscription_id ?? `for shop ${usage.shop_id}, user ${usage.user_id}`} in the export`;
      skip('token_usage', doc.line, usage.mongo_id, why);
      continue;
    }
    const { seed } = target;
    if (seed.shop_id !== usage.shop_id || seed.user_id !== usage.user_id) {
      skip('token_usage', doc.line, usage.mongo_id, `shop/user ${usage.shop_id}/${usage.user_id} differ from subscription ${seed.mongo_id}'s ${seed.shop_id}/${seed.user_id}`);
      continue;
    }
    if (target.usage) {
      skip('token_usage', doc.line, usage.mongo_id, `duplicate usage for subscription ${seed.mongo_id} (first on line ${target.usage.line})`);
      continue;
    }
    if (usage.current_period_start !== null && usage.current_period_start !== seed.current_period_start) {
      skip('token_usage', doc.line, usage.mongo_id,
        `usage is for the period starting ${isoInstant(usage.current_period_start)}, the subscription's current period starts ${isoInstant(seed.current_period_start)}`);
      continue;
    }
    const days = periodDays(usage.daily, seed.current_period_start, seed.current_period_end);
    if (days.outside.length > 0) {
      report.warnings.push(`subscription ${seed.mongo_id}: left out daily usage outside its current period on ${days.outside.map((d) => d.date).join(', ')}`);
    }
    const dailyTotal = days.inside.reduce((sum, d) => sum + d.tokens, 0);
    if (days.inside.length > 0 && dailyTotal !== usage.used_tokens) {
      report.warnings.push(`subscription ${seed.mongo_id}: used_tokens ${usage.used_tokens} kept, though its daily usage adds up to ${dailyTotal}`);
    }
    target.usage = { ...usage, daily: days.inside };
  }

  // Plans, then one transaction per subscription.
  const subs = [...accepted.values()];
  const existing = await services.read(({ q }) => allPlans(q));
  const plans = assignPlans(subs.map((a) => a.seed), existing, services.clock.now());
  await services.write(async ({ q }) => {
    for (const plan of plans.created) await insertPlan(q, plan);
  });
  report.plans = { created: plans.created.map((p) => p.id), reused: plans.reused, renamed: plans.renamed };
  const planById = new Map<string, Plan>([...existing, ...plans.created].map((p) => [p.id, p]));

  let done = 0;
  onProgress?.(0, subs.length);
  for (let i = 0; i < subs.length; i += CONCURRENCY) {
    const chunk = subs.slice(i, i + CONCURRENCY);
    const outcomes = await Promise.all(chunk.map((a) => writeSubscription(services, a, plans, planById)));
    chunk.forEach((a, j) => {
      const outcome = outcomes[j]!;
      if (outcome.kind === 'imported') {
        report.subscriptions.imported++;
        if (a.usage) report.token_usage.imported++;
        report.daily_usage_days += outcome.days;
        report.plan_history_entries += outcome.tenures;
      } else if (outcome.kind === 'already') {
        report.subscriptions.already_imported++;
      } else {
        skip('subscriptions', a.seed.line, a.seed.mongo_id, outcome.reason);
        if (a.usage) skip('token_usage', a.usage.line, a.usage.mongo_id, `its subscription ${a.seed.mongo_id} was skipped`);
      }
    });
    done += chunk.length;
    onProgress?.(done, subs.length);
  }

  report.unknown_fields = [...unknown.values()];
  report.skipped.sort((a, b) => a.collection.localeCompare(b.collection) || a.line - b.line);
  return report;
}

type Outcome = { kind: 'imported'; days: number; tenures: number } | { kind: 'already' } | { kind: 'skipped'; reason: string };

async function writeSubscription(services: Services, a: Accepted, plans: PlanAssignment, planById: Map<string, Plan>): Promise<Outcome> {
  const plan = planById.get(plans.idFor(a.seed.plan))!;
  try {
    return await services.write(async (unit): Promise<Outcome> => {
      const sub = importedSubscription(a.seed, plan, a.usage, unit.now);
      if (await findSubscriptionById(unit.q, sub.id)) return { kind: 'already' };
      if (!(await insertLiveSubscription(unit.q, sub))) {
        return { kind: 'skipped', reason: `shop ${sub.shop_id}, user ${sub.user_id} already has a live subscription in allot` };
      }
      await markImportedPeriod(unit.q, sub.id);
      const tenures = importedTenure(a.seed, plans);
      for (const tenure of tenures) await appendPlanTenure(unit.q, sub.id, tenure);
      const days = a.usage?.daily ?? [];
      // A period has at most 367 UTC days: well within one statement's parameter limit.
      await insertDailyUsage(unit.q, sub.id, sub.current_period_start, days);
      if (sub.status === 'canceled') {
        // As canceling does in allot: the last period closes into a summary, its usage kept.
        await insertPeriodSummary(unit.q, {
          subscription_id: sub.id,
          period_start: sub.current_period_start,
          period_end: Math.max(sub.current_period_start, Math.min(sub.current_period_end, sub.canceled_at ?? sub.current_period_end)),
          plan_id: sub.plan_id,
          allocated_tokens: sub.allocated_tokens,
          used_tokens: sub.used_tokens,
          queries: sub.queries,
          peak_daily_tokens: days.reduce((peak, d) => Math.max(peak, d.tokens), 0),
        });
      }
      return { kind: 'imported', days: days.length, tenures: tenures.length };
    });
  } catch (error) {
    // Another import wrote the same subscription at the same moment.
    if (error instanceof UniqueViolation) return { kind: 'already' };
    throw error;
  }
}
