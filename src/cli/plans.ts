import { InvalidArgumentError, Option, type Command } from 'commander';
import { createPlan, listAllPlans } from '../service/plans.ts';
import { planView } from '../service/views.ts';
import { columns, operator, print, withServices } from './context.ts';

function integer(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number ≥ 0');
  return n;
}

/** "29.99" → 2999 without float error. */
export function minorUnits(value: string): number {
  const match = /^(\d+)(?:\.(\d{1,2}))?$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('must be an amount like 29.99');
  return Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0'));
}

export function register(program: Command): void {
  const plans = program.command('plans').description('manage plans');
  plans
    .command('create <id>')
    .description('create a plan (plans never change; archive and make a new one)')
    .requiredOption('--name <display_name>', 'display name')
    .requiredOption('--tokens <n>', 'allocated tokens per allowance interval', integer)
    .requiredOption('--price <amount>', 'price per billing cycle, e.g. 29.99', minorUnits)
    .option('--currency <code>', 'ISO 4217 currency', 'USD')
    .addOption(new Option('--cycle <cycle>', 'billing cycle').choices(['monthly', 'yearly']).default('monthly'))
    .addOption(new Option('--interval <interval>', 'allowance interval').choices(['month', 'year']))
    .option('--tier <n>', 'order for upgrade advice', integer, 1)
    .option('--json', 'print JSON')
    .action(async (id: string, o: { name: string; tokens: number; price: number; currency: string; cycle: 'monthly' | 'yearly'; interval?: 'month' | 'year'; tier: number; json?: boolean }) => {
      const plan = await withServices((s) =>
        createPlan(s, operator, {
          id, display_name: o.name, allocated_tokens: o.tokens, price_minor: o.price, currency: o.currency,
          billing_cycle: o.cycle, allowance_interval: o.interval, tier: o.tier,
        }),
      );
      print(planView(plan), Boolean(o.json), () => `created plan ${plan.id}: ${plan.allocated_tokens} tokens per ${plan.allowance_interval}, ${plan.price_minor} ${plan.currency} minor units ${plan.billing_cycle}`);
    });
  plans
    .command('list')
    .description('list plans')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const list = (await withServices((s) => listAllPlans(s, { includeArchived: true, limit: 100 }))).map(planView);
      print(list, Boolean(o.json), () => columns(list, ['id', 'display_name', 'allocated_tokens', 'price_minor', 'currency', 'billing_cycle', 'allowance_interval', 'tier', 'archived']));
    });
}
