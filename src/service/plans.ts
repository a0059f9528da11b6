import { AllotError } from '../domain/errors.ts';
import type { BillingCycle, Plan } from '../domain/model.ts';
import type { Interval } from '../domain/periods.ts';
import { archivePlan, findPlan, insertPlan, listPlans } from '../store/subscriptions.ts';
import type { Services } from './context.ts';
import type { Scope } from './scope.ts';

export interface NewPlan {
  id: string;
  display_name: string;
  allocated_tokens: number;
  price_minor: number;
  currency: string;
  billing_cycle: BillingCycle;
  allowance_interval?: Interval;
  tier: number;
}

export async function createPlan(services: Services, scope: Scope, input: NewPlan): Promise<Plan> {
  scope.requireAdmin();
  const interval = input.allowance_interval ?? 'month';
  if (interval === 'year' && input.billing_cycle !== 'yearly') {
    throw new AllotError('validation_error', 'allowance_interval "year" needs billing_cycle "yearly".', {
      errors: [{ path: 'allowance_interval', message: 'year is only allowed with billing_cycle yearly' }],
    });
  }
  return services.write(async ({ q, now }) => {
    const plan: Plan = { ...input, allowance_interval: interval, archived: false, created_at: now };
    if (!(await insertPlan(q, plan))) throw new AllotError('plan_exists', `Plan ${input.id} already exists; plans never change, create one with a new id.`);
    return plan;
  });
}

export async function getPlan(services: Services, id: string): Promise<Plan> {
  const plan = await services.read(({ q }) => findPlan(q, id));
  if (!plan) throw new AllotError('plan_not_found', `No plan ${id}.`);
  return plan;
}

export async function listAllPlans(services: Services, page: { includeArchived: boolean; after?: string; limit: number }) {
  return services.read(({ q }) => listPlans(q, page));
}

export async function archive(services: Services, scope: Scope, id: string): Promise<Plan> {
  scope.requireAdmin();
  const plan = await services.write(({ q }) => archivePlan(q, id));
  if (!plan) throw new AllotError('plan_not_found', `No plan ${id}.`);
  return plan;
}
