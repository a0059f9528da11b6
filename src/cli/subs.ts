import type { Command } from 'commander';
import type { Alert, Recommendation, UsageHistory } from '../domain/analytics.ts';
import { formatAmount } from '../domain/money.ts';
import { subscriptionStatus } from '../service/status.ts';
import { getSubscription } from '../service/subscriptions.ts';
import { subscriptionView, type SubscriptionView } from '../service/views.ts';
import { operator, print, withServices } from './context.ts';

type Status = Awaited<ReturnType<typeof subscriptionStatus>>;

function subscriptionText(v: SubscriptionView): string[] {
  return [
    `${v.shop_id}/${v.user_id}  ${v.id}  ${v.status}`,
    `plan       ${v.plan_id} (${v.plan_display_name})${v.pending_plan_id ? ` → ${v.pending_plan_id} at period end` : ''}`,
    `period     ${v.current_period_start} → ${v.current_period_end}${v.cancel_at_period_end ? ' (cancels at end)' : ''}`,
    `tokens     ${v.used_tokens} used + ${v.reserved_tokens} held of ${v.allocated_tokens} (${v.usage_percentage}%), ${v.remaining_tokens} remaining`,
  ];
}

/** Items under a label: the first on the label's line, the rest aligned below it; "none" when there are none. */
function listed(label: string, items: string[]): string[] {
  const indent = ' '.repeat(11);
  if (items.length === 0) return [`${label.padEnd(11)}none`];
  return items.map((item, i) => `${i === 0 ? label.padEnd(11) : indent}${item}`);
}

const alertText = (a: Alert) => `${a.type} ${a.code}: ${a.message} (${a.action})`;
const modelText = (m: Status['usage_by_model'][number]) =>
  `${m.model}: ${m.tokens} tokens in ${m.events} event(s) (input ${m.input_tokens}, cached ${m.cached_input_tokens}, output ${m.output_tokens})`;
const adviceText = (r: Recommendation) => `${r.code}: ${r.message}${r.plan_id ? ` (plan ${r.plan_id})` : ''}`;

/** The status report as the JSON has it, a line per topic. */
function statusText(s: Status): string[] {
  const history: UsageHistory | undefined = 'usage_history' in s ? s.usage_history : undefined;
  const lines = [
    ...subscriptionText(s),
    `days       ${s.days_remaining_in_period} remaining in the period`,
    `billing    ${formatAmount(s.next_billing_amount_minor, s.next_billing_currency)} ${s.billing_cycle}${s.next_billing_date ? `, next on ${s.next_billing_date}` : ''}`,
    `usage      ${s.avg_daily_usage} tokens a day on average (trend ${s.usage_trend}), ${s.projected_usage} projected by period end`,
    `runs out   ${s.projected_exhaustion_date ?? 'not within this period'}`,
  ];
  if (history) {
    lines.push(`queries    ${history.total_queries} (${history.avg_tokens_per_query} tokens per query), peak ${history.peak_daily_usage} tokens in a day`);
  }
  return [
    ...lines, ...listed('alerts', s.alerts.map(alertText)), ...listed('advice', s.recommendations.map(adviceText)),
    ...listed('by model', s.usage_by_model.map(modelText)),
  ];
}

export function register(program: Command): void {
  const subs = program.command('subs').description('inspect subscriptions');
  subs
    .command('show <shop_id> <user_id>')
    .description('show a subscription (with --status: analytics, alerts and advice)')
    .option('--status', 'include the status report')
    .option('--json', 'print JSON')
    .action(async (shopId: string, userId: string, o: { status?: boolean; json?: boolean }) => {
      if (o.status) {
        const status = await withServices((s) => subscriptionStatus(s, operator, shopId, userId, true));
        print(status, Boolean(o.json), () => statusText(status).join('\n'));
      } else {
        const view = subscriptionView(await withServices((s) => getSubscription(s, operator, shopId, userId)));
        print(view, Boolean(o.json), () => subscriptionText(view).join('\n'));
      }
    });
}
