import type { Command } from 'commander';
import { subscriptionStatus } from '../service/status.ts';
import { getSubscription } from '../service/subscriptions.ts';
import { subscriptionView } from '../service/views.ts';
import { operator, print, withServices } from './context.ts';

export function register(program: Command): void {
  const subs = program.command('subs').description('inspect subscriptions');
  subs
    .command('show <shop_id> <user_id>')
    .description('show a subscription (with --status: analytics, alerts and advice)')
    .option('--status', 'include the status report')
    .option('--json', 'print JSON')
    .action(async (shopId: string, userId: string, o: { status?: boolean; json?: boolean }) => {
      const value = await withServices(async (s) =>
        o.status ? subscriptionStatus(s, operator, shopId, userId, true) : subscriptionView(await getSubscription(s, operator, shopId, userId)),
      );
      print(value, Boolean(o.json), () => {
        const v = value as ReturnType<typeof subscriptionView>;
        return [
          `${v.shop_id}/${v.user_id}  ${v.id}  ${v.status}`,
          `plan       ${v.plan_id} (${v.plan_display_name})${v.pending_plan_id ? ` → ${v.pending_plan_id} at period end` : ''}`,
          `period     ${v.current_period_start} → ${v.current_period_end}${v.cancel_at_period_end ? ' (cancels at end)' : ''}`,
          `tokens     ${v.used_tokens} used + ${v.reserved_tokens} held of ${v.allocated_tokens} (${v.usage_percentage}%), ${v.remaining_tokens} remaining`,
        ].join('\n');
      });
    });
}
