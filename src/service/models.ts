/**
 * Model rates (SPEC §10): admins set each model's weights, with their history;
 * metering asks `charge` what an event costs in allowance tokens.
 */
import { isoInstant } from '../domain/clock.ts';
import { AllotError, validationError } from '../domain/errors.ts';
import {
  chargedTokens, DEFAULT_RATE_MODEL, plainTokens, weightNumber, type TokenCounts, type Weights,
} from '../domain/rates.ts';
import {
  closedRates, closeRate, insertRate, latestRate, listOpenRates, openRate, ratesInForce, rewriteRate, type RateRow,
} from '../store/models.ts';
import { RetryUnit, type Services, type Unit } from './context.ts';
import type { Scope } from './scope.ts';

/** The most allowance tokens one event may cost, as for tokens given explicitly. */
export const MAX_EVENT_CHARGE = 1e12;

/** Weights in millionths (the API's schema parses the decimals it is sent to them). */
export interface NewRate {
  input_weight: number;
  output_weight: number;
  /** Defaults to `input_weight`. */
  cached_input_weight?: number;
}

export function weightsView(w: Weights) {
  return {
    input_weight: weightNumber(w.input_weight),
    cached_input_weight: weightNumber(w.cached_input_weight),
    output_weight: weightNumber(w.output_weight),
  };
}

export type WeightsView = ReturnType<typeof weightsView>;

/** A model's rate as clients see it: the weights in force and the earlier ones, newest first. */
export function rateView(current: RateRow, history: readonly RateRow[]) {
  return {
    model: current.model,
    ...weightsView(current),
    effective_from: isoInstant(current.effective_from),
    history: history.map((h) => ({
      ...weightsView(h),
      effective_from: isoInstant(h.effective_from),
      effective_to: isoInstant(h.effective_to ?? h.effective_from),
    })),
  };
}

export type RateView = ReturnType<typeof rateView>;

const sameWeights = (a: Weights, b: Weights) =>
  a.input_weight === b.input_weight && a.cached_input_weight === b.cached_input_weight && a.output_weight === b.output_weight;

/**
 * Sets a model's weights from now on (SPEC §10): answers whether the model had
 * none before. The same weights again change nothing; new ones close the
 * current span of the history and open another.
 */
export async function putRate(services: Services, scope: Scope, model: string, input: NewRate): Promise<{ created: boolean; rate: RateView }> {
  scope.requireAdmin();
  const weights: Weights = {
    input_weight: input.input_weight,
    cached_input_weight: input.cached_input_weight ?? input.input_weight,
    output_weight: input.output_weight,
  };
  return services.write(async (unit) => {
    // The lock orders concurrent changes; the latest row is read again, as a change that committed meanwhile left it.
    await openRate(unit.q, model, unit.lock);
    const latest = await latestRate(unit.q, model);
    const open = latest?.effective_to === null ? latest : undefined;
    if (open && sameWeights(open, weights)) return { created: false, rate: rateView(open, await closedRates(unit.q, [model])) };
    if (latest && latest.effective_from >= unit.now) {
      // A change within the instant the latest span began: that span never held for a whole millisecond.
      if (!(await rewriteRate(unit.q, latest, weights))) throw new RetryUnit('rate changed concurrently');
    } else {
      if (open && !(await closeRate(unit.q, model, open.effective_from, unit.now))) throw new RetryUnit('rate changed concurrently');
      if (!(await insertRate(unit.q, { model, effective_from: unit.now, ...weights }))) throw new RetryUnit('rate set concurrently');
    }
    const now = await openRate(unit.q, model);
    if (!now) throw new RetryUnit('rate vanished');
    return { created: open === undefined, rate: rateView(now, await closedRates(unit.q, [model])) };
  });
}

function modelNotFound(model: string): AllotError {
  return new AllotError('model_not_found', `No rate for model ${JSON.stringify(model)}.`);
}

export async function getRate(services: Services, model: string): Promise<RateView> {
  return services.read(async ({ q }) => {
    const current = await openRate(q, model);
    if (!current) throw modelNotFound(model);
    return rateView(current, await closedRates(q, [model]));
  });
}

/** Models with a rate now, by id, each with its history. */
export async function listRates(services: Services, page: { after?: string; limit: number }): Promise<RateView[]> {
  return services.read(async ({ q }) => {
    const current = await listOpenRates(q, page);
    const history = await closedRates(q, current.map((r) => r.model));
    return current.map((r) => rateView(r, history.filter((h) => h.model === r.model)));
  });
}

/** Ends a model's rate now; its events keep the weights they were charged with. */
export async function deleteRate(services: Services, scope: Scope, model: string): Promise<void> {
  scope.requireAdmin();
  await services.write(async (unit) => {
    const current = await openRate(unit.q, model, unit.lock);
    if (!current) throw modelNotFound(model);
    if (!(await closeRate(unit.q, model, current.effective_from, Math.max(unit.now, current.effective_from)))) {
      throw new RetryUnit('rate changed concurrently');
    }
  });
}

/** What an event asks to be charged for: explicit `tokens`, or counts of a model's tokens. */
export interface ChargeRequest {
  tokens?: number;
  input_tokens?: number;
  cached_input_tokens?: number;
  output_tokens?: number;
  model?: string;
}

/** An event's charge, with the weights it was computed with (null: charged as given, or plain because no rate is in force). */
export interface Charge {
  tokens: number;
  weights: Weights | null;
}

export function countsOf(request: ChargeRequest): TokenCounts {
  return {
    input_tokens: request.input_tokens ?? 0,
    cached_input_tokens: request.cached_input_tokens ?? 0,
    output_tokens: request.output_tokens ?? 0,
  };
}

/**
 * What an event costs at the unit's instant (SPEC §10): `tokens` as given;
 * else its counts with the model's weights, or the `*` weights; the plain sum
 * when no rate at all is in force. Rates in force but none for the model →
 * 422 `model_not_priced`: a cost is never silently 0.
 */
export async function charge(unit: Unit, request: ChargeRequest): Promise<Charge> {
  if (request.tokens !== undefined) return { tokens: request.tokens, weights: null };
  const counts = countsOf(request);
  const rates = await ratesInForce(unit.q, request.model ?? null, DEFAULT_RATE_MODEL, unit.now);
  if (!rates.any) return { tokens: plainTokens(counts), weights: null };
  const rate = rates.own ?? rates.fallback;
  if (!rate) {
    const named = request.model === undefined ? 'An event without a model' : `Model ${JSON.stringify(request.model)}`;
    throw new AllotError('model_not_priced', `${named} has no rate and there is no "${DEFAULT_RATE_MODEL}" rate: set one with PUT /v1/models/{model}, or send tokens.`);
  }
  const weights: Weights = { input_weight: rate.input_weight, cached_input_weight: rate.cached_input_weight, output_weight: rate.output_weight };
  const tokens = chargedTokens(counts, weights);
  if (tokens > MAX_EVENT_CHARGE) {
    throw validationError([{ path: 'tokens', message: `these counts cost ${tokens} allowance tokens at the current weights; one event may cost at most 10^12` }]);
  }
  return { tokens, weights };
}
