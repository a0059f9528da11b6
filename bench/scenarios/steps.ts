/** Request builders shared by the scenarios: every request gets a fresh id. */
import { randomBytes } from 'node:crypto';
import type { StepFn } from '../load.ts';

const runTag = randomBytes(3).toString('hex');

/** 1…50 tokens, varying from request to request so the ledger sums are not a mere count. */
const tokensFor = (seq: number) => 1 + ((seq * 7919) % 50);

export function usageStep(options: { shopId: string; users: readonly string[]; prefix: string; enforce?: boolean }): StepFn {
  let seq = 0;
  return () => {
    seq++;
    const tokens = tokensFor(seq);
    const body: Record<string, unknown> = {
      event_id: `${options.prefix}-${runTag}-${seq}`,
      shop_id: options.shopId,
      user_id: options.users[seq % options.users.length],
      tokens,
      model: 'bench-model',
    };
    if (options.enforce) body.enforce = true;
    return { method: 'POST', path: '/v1/usage', body, tokens };
  };
}

/** Two steps a connection repeats: hold 50 tokens, then commit what the call "spent". */
export function holdThenCommitSteps(options: { shopId: string; userId: string; prefix: string }): StepFn[] {
  let seq = 0;
  return [
    (context) => {
      seq++;
      context.reservation = `${options.prefix}-${runTag}-${seq}`;
      context.spent = tokensFor(seq);
      return {
        method: 'POST', path: '/v1/reservations',
        body: { reservation_id: context.reservation, shop_id: options.shopId, user_id: options.userId, tokens: 50 },
      };
    },
    (context) => ({
      method: 'POST',
      path: `/v1/reservations/${String(context.reservation)}/commit`,
      body: { tokens: context.spent },
      tokens: context.spent as number,
    }),
  ];
}

export function users(count: number, prefix = 'user'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
}
