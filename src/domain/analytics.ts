/**
 * Status analytics of a subscription's current period (SPEC §7): remaining
 * tokens, averages, projections, trend, alerts and upgrade advice. Pure: the
 * caller passes `now`, the period, its counters and its daily rollups.
 */
import { DAY_MS, isoDay, startOfDay } from './clock.ts';
import type { SubscriptionStatus } from './model.ts';

export interface DailyPoint {
  date: string; // YYYY-MM-DD
  tokens: number;
  queries: number;
}

export interface PlanSummary {
  id: string;
  display_name: string;
  tier: number;
  allocated_tokens: number;
  archived: boolean;
}

export type UsageTrend = 'increasing' | 'decreasing' | 'stable';

export interface StatusInput {
  now: number;
  periodStart: number;
  periodEnd: number;
  /** When the subscription renews (is billed) or, canceling, ends: the billing period's end, which `renewal_soon` and `ends_soon` announce. */
  billingPeriodEnd: number;
  allocated: number;
  used: number;
  reserved: number;
  status: SubscriptionStatus;
  cancelAtPeriodEnd: boolean;
  /** The current period's daily rollups, any order, sparse (a missing day is 0). */
  daily: DailyPoint[];
  /** Queries in the current period. */
  queries: number;
  currentPlan: PlanSummary;
  /** All plans: the candidates for upgrade advice. */
  plans: PlanSummary[];
  highTokensPerQuery: number;
}

export interface Alert {
  type: 'info' | 'warning' | 'error';
  code: string;
  message: string;
  action: string;
}

export interface Recommendation {
  code: 'upgrade' | 'usage_increasing' | 'high_tokens_per_query';
  message: string;
  plan_id?: string;
}

export interface UsageHistory {
  /** Every UTC day from the period's first day to today, ascending, zero-filled. */
  daily: DailyPoint[];
  total_queries: number;
  avg_tokens_per_query: number;
  peak_daily_usage: number;
}

export interface StatusAnalytics {
  remaining_tokens: number;
  usage_percentage: number;
  days_remaining_in_period: number;
  avg_daily_usage: number;
  projected_usage: number;
  projected_exhaustion_date: string | null;
  usage_trend: UsageTrend;
  alerts: Alert[];
  recommendations: Recommendation[];
  usage_history: UsageHistory;
}

const AVERAGE_WINDOW_DAYS = 7;

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

export function remainingTokens(allocated: number, used: number, reserved: number): number {
  return Math.max(0, allocated - used - reserved);
}

/** round(100·used/allocated, 2); may exceed 100; 0 when allocated is 0. */
export function usagePercentage(used: number, allocated: number): number {
  return allocated === 0 ? 0 : round2((100 * used) / allocated);
}

/** used ≥ percent % of allocated, exactly (no rounding); with no allowance any usage counts as over. */
function usedAtLeast(used: number, allocated: number, percent: number): boolean {
  return allocated === 0 ? used > 0 : used * 100 >= allocated * percent;
}

/** The period's days from its first UTC day to today, zero-filled. */
function dailySeries(periodStart: number, now: number, daily: DailyPoint[]): DailyPoint[] {
  const byDate = new Map<string, DailyPoint>();
  for (const point of daily) {
    const seen = byDate.get(point.date);
    byDate.set(point.date, {
      date: point.date,
      tokens: (seen?.tokens ?? 0) + point.tokens,
      queries: (seen?.queries ?? 0) + point.queries,
    });
  }
  const series: DailyPoint[] = [];
  const today = startOfDay(now);
  for (let day = startOfDay(periodStart); day <= today || series.length === 0; day += DAY_MS) {
    const date = isoDay(day);
    series.push(byDate.get(date) ?? { date, tokens: 0, queries: 0 });
  }
  return series;
}

function sumTokens(points: DailyPoint[]): number {
  return points.reduce((sum, point) => sum + point.tokens, 0);
}

/** Last 3 days against the 3 before, once 6 days exist; compared as integer sums so exactly 1.1× stays stable. */
function usageTrend(series: DailyPoint[]): UsageTrend {
  if (series.length < 6) return 'stable';
  const last = sumTokens(series.slice(-3));
  const before = sumTokens(series.slice(-6, -3));
  if (10 * last > 11 * before) return 'increasing';
  if (10 * last < 9 * before) return 'decreasing';
  return 'stable';
}

function exhaustionDate(now: number, periodEnd: number, remaining: number, avgDaily: number): string | null {
  if (avgDaily === 0) return null;
  const day = startOfDay(now) + Math.ceil(remaining / avgDaily) * DAY_MS;
  return day >= periodEnd ? null : isoDay(day);
}

function inDays(days: number): string {
  if (days === 0) return 'within a day';
  return `in ${days} day${days === 1 ? '' : 's'}`;
}

/** How the period is going, as the projection and the upgrade advice see it. */
interface Outlook {
  /** The day the remaining tokens run out, when that is before the period ends. */
  exhaustion: string | null;
  /** Projected usage at the period's end, as a percentage of the allowance. */
  projectedPercentage: number;
  /** The plan the advice recommends upgrading to, if it does. */
  upgrade: PlanSummary | null;
}

/**
 * What to do about a pace that runs out or earns upgrade advice; null when
 * the pace needs nothing. It names the advised plan, so the alert and the
 * advice never contradict each other.
 */
function outlookAction(outlook: Outlook): string | null {
  const advice = outlook.upgrade ? `: consider upgrading to ${outlook.upgrade.display_name}` : '';
  if (outlook.exhaustion !== null) return `At this pace the tokens run out on ${outlook.exhaustion}, before the period ends${advice}`;
  if (outlook.upgrade) return `At this pace ${outlook.projectedPercentage}% of the allowance is used by the period's end${advice}`;
  return null;
}

/** The usage alert; below 90 % its action follows the outlook (the levels above advise upgrading anyway). */
function usageAlert(used: number, allocated: number, percentage: number, outlook: Outlook): Alert | null {
  const share = `${percentage}% of this period's tokens used`;
  if (usedAtLeast(used, allocated, 100)) {
    return {
      type: 'error',
      code: 'limit_reached',
      message: `Limit reached: ${share}`,
      action: 'Upgrade your plan or wait for the next period',
    };
  }
  if (usedAtLeast(used, allocated, 90)) {
    return { type: 'error', code: 'usage_critical', message: `Critical: ${share}`, action: 'Consider upgrading' };
  }
  if (usedAtLeast(used, allocated, 75)) {
    return { type: 'warning', code: 'usage_high', message: `High usage: ${share}`, action: outlookAction(outlook) ?? 'Monitor usage closely' };
  }
  if (usedAtLeast(used, allocated, 50)) {
    return { type: 'info', code: 'usage_moderate', message: `Moderate usage: ${share}`, action: outlookAction(outlook) ?? 'Usage is on track' };
  }
  return null;
}

function alertsFor(input: StatusInput, percentage: number, outlook: Outlook): Alert[] {
  const alerts: Alert[] = [];
  const usage = usageAlert(input.used, input.allocated, percentage, outlook);
  if (usage) alerts.push(usage);
  const daysToBillingEnd = Math.max(0, Math.floor((input.billingPeriodEnd - input.now) / DAY_MS));
  if (input.status !== 'canceled' && daysToBillingEnd <= 3) {
    alerts.push(
      input.cancelAtPeriodEnd
        ? {
            type: 'info',
            code: 'ends_soon',
            message: `Subscription ends ${inDays(daysToBillingEnd)}`,
            action: 'Choose a plan to keep access after this period',
          }
        : {
            type: 'info',
            code: 'renewal_soon',
            message: `Subscription renews ${inDays(daysToBillingEnd)}`,
            action: 'Ensure your payment method is up to date',
          },
    );
  }
  if (input.status === 'suspended') {
    alerts.push({
      type: 'error',
      code: 'subscription_suspended',
      message: 'Subscription is suspended: enforced usage is rejected',
      action: 'Resume the subscription',
    });
  }
  return alerts;
}

/** The lowest tier above the current plan's among live plans with a larger allowance; ties go to the larger allowance. */
export function nextTierPlan(current: PlanSummary, plans: PlanSummary[]): PlanSummary | null {
  let next: PlanSummary | null = null;
  for (const plan of plans) {
    if (plan.archived || plan.tier <= current.tier || plan.allocated_tokens <= current.allocated_tokens) continue;
    if (!next || plan.tier < next.tier || (plan.tier === next.tier && plan.allocated_tokens > next.allocated_tokens)) {
      next = plan;
    }
  }
  return next;
}

function upgradeMessage(current: PlanSummary, next: PlanSummary): string {
  if (current.allocated_tokens === 0) return `Consider upgrading to ${next.display_name} for more tokens`;
  const ratio = Math.round((next.allocated_tokens / current.allocated_tokens) * 10) / 10;
  return `Consider upgrading to ${next.display_name} for ${ratio}x more tokens`;
}

/** The next tier, when usage > 80 % or projected > 90 % of the allowance. */
function advisedUpgrade(input: StatusInput, projected: number): PlanSummary | null {
  const { used, allocated } = input;
  const nearLimit = allocated === 0 ? used > 0 || projected > 0 : used * 100 > allocated * 80 || projected * 10 > allocated * 9;
  return nearLimit ? nextTierPlan(input.currentPlan, input.plans) : null;
}

function recommendationsFor(
  input: StatusInput,
  next: PlanSummary | null,
  trend: UsageTrend,
  avgTokensPerQuery: number,
): Recommendation[] {
  const recommendations: Recommendation[] = [];
  if (next) {
    recommendations.push({ code: 'upgrade', message: upgradeMessage(input.currentPlan, next), plan_id: next.id });
  }
  if (trend === 'increasing') {
    recommendations.push({
      code: 'usage_increasing',
      message: 'Usage is increasing - monitor your query patterns',
    });
  }
  if (avgTokensPerQuery > input.highTokensPerQuery) {
    recommendations.push({
      code: 'high_tokens_per_query',
      message: `Average of ${avgTokensPerQuery} tokens per query is high - consider shorter prompts or responses`,
    });
  }
  return recommendations;
}

export function computeStatus(input: StatusInput): StatusAnalytics {
  const { now, periodEnd, allocated, used } = input;
  const series = dailySeries(input.periodStart, now, input.daily);
  const remaining = remainingTokens(allocated, used, input.reserved);
  const percentage = usagePercentage(used, allocated);
  const daysRemaining = Math.max(0, Math.floor((periodEnd - now) / DAY_MS));

  const window = series.slice(-AVERAGE_WINDOW_DAYS);
  const avgDaily = round2(sumTokens(window) / window.length);
  const projected = Math.round(used + avgDaily * daysRemaining);
  const exhaustion = exhaustionDate(now, periodEnd, remaining, avgDaily);
  const trend = usageTrend(series);
  const upgrade = advisedUpgrade(input, projected);
  const outlook: Outlook = { exhaustion, projectedPercentage: usagePercentage(projected, allocated), upgrade };

  const periodTokens = sumTokens(series);
  const avgTokensPerQuery = input.queries > 0 ? round2(periodTokens / input.queries) : 0;

  return {
    remaining_tokens: remaining,
    usage_percentage: percentage,
    days_remaining_in_period: daysRemaining,
    avg_daily_usage: avgDaily,
    projected_usage: projected,
    projected_exhaustion_date: exhaustion,
    usage_trend: trend,
    alerts: alertsFor(input, percentage, outlook),
    recommendations: recommendationsFor(input, upgrade, trend, avgTokensPerQuery),
    usage_history: {
      daily: series,
      total_queries: input.queries,
      avg_tokens_per_query: avgTokensPerQuery,
      peak_daily_usage: series.reduce((peak, point) => Math.max(peak, point.tokens), 0),
    },
  };
}
