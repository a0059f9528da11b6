/**
 * `allot plans`: create, list and archive plans. A new plan passes the same
 * schema as `POST /v1/plans` before anything is written.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { FieldError } from '../domain/errors.ts';
import { formatAmount, parseAmount } from '../domain/money.ts';
import { planBody } from '../http/routes/plans.ts';
import { archive, createPlan, listAllPlans } from '../service/plans.ts';
import { planView } from '../service/views.ts';
import { columns, everyRow, namingOptions, operator, print, validInput, withServices } from './context.ts';

/** Numeric text to a number; whether it must be whole, and its range, are the schema's rules. */
function numeric(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('must be a number');
  return n;
}

/** Which option each field of the plan comes from, to name it in errors. */
const flags: Record<string, string> = {
  id: '<id>', display_name: '--name', allocated_tokens: '--tokens', price_minor: '--price', currency: '--currency',
  billing_cycle: '--cycle', allowance_interval: '--interval', tier: '--tier',
};

interface CreateOptions {
  name: string;
  tokens: number;
  price: string;
  currency: string;
  cycle: string;
  interval?: string;
  tier: number;
  json?: boolean;
}

/** The options as the API's plan body, checked by its schema; the price is read in the currency's minor units. */
function newPlan(id: string, o: CreateOptions) {
  const earlier: FieldError[] = [];
  let price: number | undefined;
  try {
    price = parseAmount(o.price, o.currency);
  } catch (error) {
    earlier.push({ path: 'price_minor', message: (error as Error).message });
  }
  return validInput('plan', planBody, {
    id, display_name: o.name, allocated_tokens: o.tokens, price_minor: price, currency: o.currency,
    billing_cycle: o.cycle, allowance_interval: o.interval, tier: o.tier,
  }, flags, earlier);
}

export function register(program: Command): void {
  const plans = program.command('plans').description('manage plans');
  plans
    .command('create <id>')
    .description('create a plan (plans never change; archive and make a new one)')
    .requiredOption('--name <display_name>', 'display name')
    .requiredOption('--tokens <n>', 'allocated tokens per allowance interval', numeric)
    .requiredOption('--price <amount>', "price per billing cycle in the currency's major unit, e.g. 29.99 USD or 1500 JPY")
    .option('--currency <code>', 'ISO 4217 currency', 'USD')
    .addOption(new Option('--cycle <cycle>', 'billing cycle').choices(planBody.shape.billing_cycle.options).default('monthly'))
    .addOption(new Option('--interval <interval>', 'allowance interval').choices(planBody.shape.allowance_interval.unwrap().options))
    .option('--tier <n>', 'order for upgrade advice', numeric, 1)
    .option('--json', 'print JSON')
    .action(async (id: string, o: CreateOptions) => {
      const input = newPlan(id, o);
      const plan = await withServices((s) => namingOptions('plan', flags, createPlan(s, operator, input)));
      print(planView(plan), Boolean(o.json), () => `created plan ${plan.id}: ${plan.allocated_tokens} tokens per ${plan.allowance_interval}, ${formatAmount(plan.price_minor, plan.currency)} ${plan.billing_cycle}`);
    });
  plans
    .command('list')
    .description('list every plan, archived ones included')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const all = await withServices((s) => everyRow((after, limit) => listAllPlans(s, { includeArchived: true, after, limit })));
      const list = all.map(planView);
      print(list, Boolean(o.json), () => columns(list, ['id', 'display_name', 'allocated_tokens', 'price_minor', 'currency', 'billing_cycle', 'allowance_interval', 'tier', 'archived']));
    });
  plans
    .command('archive <id>')
    .description('archive a plan: it takes no new subscriptions; those on it keep it')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const plan = await withServices((s) => archive(s, operator, id));
      print(planView(plan), Boolean(o.json), () => `archived plan ${plan.id} (${plan.display_name}): it takes no new subscriptions; those on it keep it`);
    });
}
