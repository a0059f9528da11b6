/** allot's records, named as the API names them. Instants are epoch ms. */
import type { Interval } from './periods.ts';

export type BillingCycle = 'monthly' | 'yearly';
export type SubscriptionStatus = 'active' | 'suspended' | 'canceled';

export interface Plan {
  id: string;
  display_name: string;
  allocated_tokens: number;
  price_minor: number;
  currency: string;
  billing_cycle: BillingCycle;
  allowance_interval: Interval;
  tier: number;
  archived: boolean;
  created_at: number;
}

export interface Subscription {
  id: string;
  shop_id: string;
  user_id: string;
  plan_id: string;
  plan_display_name: string;
  status: SubscriptionStatus;
  billing_cycle: BillingCycle;
  allowance_interval: Interval;
  allocated_tokens: number;
  price_minor: number;
  currency: string;
  started_at: number;
  /** Allowance periods are anchor + k intervals; the anchor moves only when the interval changes. */
  period_anchor: number;
  period_index: number;
  current_period_start: number;
  current_period_end: number;
  billing_anchor: number;
  plan_started_at: number;
  cancel_at_period_end: boolean;
  pending_plan_id: string | null;
  used_tokens: number;
  reserved_tokens: number;
  queries: number;
  canceled_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface PlanTenure {
  plan_id: string;
  allocated_tokens: number;
  price_minor: number;
  start_date: number;
  end_date: number;
  change_reason: string;
}

export interface PeriodSummary {
  subscription_id: string;
  period_start: number;
  period_end: number;
  plan_id: string;
  allocated_tokens: number;
  used_tokens: number;
  queries: number;
  peak_daily_tokens: number;
}

export const LIVE_STATUSES: readonly SubscriptionStatus[] = ['active', 'suspended'];
