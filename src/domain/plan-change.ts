/**
 * What a PUT of a plan onto a (shop, user) means: a pure decision, applied by
 * the service in one guarded write.
 */
import { AllotError } from './errors.ts';
import { isoDay } from './clock.ts';
import type { Plan, PlanTenure, Subscription } from './model.ts';
import { billingPeriodEnd } from './rollover.ts';

export type ChangeAction = 'create' | 'upgrade' | 'downgrade' | 'change' | 'none';
export type ChangeWhen = 'now' | 'period_end';

export type PlanChangeDecision =
  | { kind: 'none'; action: 'none'; clearPending: boolean; message: string }
  | { kind: 'now'; action: Exclude<ChangeAction, 'create' | 'none'>; tenure: PlanTenure; message: string }
  | { kind: 'scheduled'; action: Exclude<ChangeAction, 'create' | 'none'>; effective: number; message: string };

export function changeAction(from: { allocated_tokens: number; id: string }, to: Plan): Exclude<ChangeAction, 'create'> {
  if (from.id === to.id) return 'none';
  if (to.allocated_tokens > from.allocated_tokens) return 'upgrade';
  if (to.allocated_tokens < from.allocated_tokens) return 'downgrade';
  return 'change';
}

const pastTense: Record<Exclude<ChangeAction, 'none'>, string> = {
  create: 'Created',
  upgrade: 'Upgraded',
  downgrade: 'Downgraded',
  change: 'Changed',
};

export function decidePlanChange(current: Subscription, target: Plan, when: ChangeWhen, now: number): PlanChangeDecision {
  const action = changeAction({ id: current.plan_id, allocated_tokens: current.allocated_tokens }, target);
  if (action === 'none') {
    const clearPending = current.pending_plan_id !== null;
    const message = clearPending
      ? `Kept ${target.display_name}; the scheduled plan change was dropped`
      : `Already on ${target.display_name}`;
    return { kind: 'none', action, clearPending, message };
  }
  if (target.archived) throw new AllotError('plan_archived', `Plan ${target.id} is archived and takes no new subscriptions.`);
  const cycleChanges =
    target.billing_cycle !== current.billing_cycle || target.allowance_interval !== current.allowance_interval;
  if (when === 'now') {
    if (cycleChanges) {
      throw new AllotError(
        'cycle_change_requires_period_end',
        'A change of billing cycle or allowance interval can only apply at the end of the period: send when: "period_end".',
      );
    }
    return {
      kind: 'now',
      action,
      tenure: {
        plan_id: current.plan_id,
        allocated_tokens: current.allocated_tokens,
        price_minor: current.price_minor,
        start_date: current.plan_started_at,
        end_date: now,
        change_reason: action,
      },
      message: `${pastTense[action]} to ${target.display_name}`,
    };
  }
  // Scheduled for the end of the billing period: with monthly billing that is the allowance period's end.
  const effective = billingPeriodEnd(current);
  const from = effective === current.current_period_end ? 'the next period' : `the next billing period (${isoDay(effective)})`;
  return { kind: 'scheduled', action, effective, message: `${pastTense[action]} to ${target.display_name} from ${from}` };
}

export function createdMessage(plan: Plan): string {
  return `${pastTense.create} ${plan.display_name} subscription`;
}
