/**
 * Metering an LLM call: hold an estimate before it, record what it really
 * used after it, free the hold when it fails. The caller's id becomes the
 * usage event's id, so however often a call is tried with one id, its usage
 * counts once.
 */
import type { AllotClient } from './client.js';
import { AllotApiError } from './errors.js';
import type { CommitInput, CommitResult, Reservation, UsageInput } from './types.generated.js';
import { aiSdkUsage, totalTokens, type TokenUsage, type UsageMapper } from './usage.js';

export interface MeterOptions {
  shop_id: string;
  user_id: string;
  /**
   * The call's own id (e.g. the id of the request it serves): its usage is
   * stored as the usage event with this id, so a retried call counts once.
   * 1–128 characters of A-Z a-z 0-9 . _ : @ -.
   */
  id: string;
  /** Tokens to hold while the call runs: a call that would not fit is refused (429 `quota_exceeded`) before it starts. */
  estimate: number;
  /** Seconds the hold lasts when it is never settled (1–3600, default 300). */
  ttl_seconds?: number;
}

export interface MeteredOptions extends MeterOptions {
  /** Reads the usage from the call's answer: `openaiUsage`, `anthropicUsage`, `aiSdkUsage` or your own. */
  usage: UsageMapper;
}

export interface Settlement {
  /**
   * `committed`: the usage counted now; `released`: nothing counted;
   * `duplicate`: usage under this id counted before (an earlier try), not again.
   */
  outcome: 'committed' | 'released' | 'duplicate';
  /** The tokens counted now: 0 unless committed. */
  tokens: number;
  /** The usage read from the answer; null when it reported none. */
  usage: TokenUsage | null;
  /** The commit's answer, when committed. */
  commit: CommitResult | null;
}

/** A stream whose iteration is metered: the hold settles when it ends, is stopped, or fails. */
export interface MeteredStream<Chunk> extends AsyncIterable<Chunk> {
  readonly meter: Meter;
}

/** What `metered` answers: the call's own answer, or for a stream a metered stream of its chunks. */
export type MeteredResult<T> = T extends AsyncIterable<infer Chunk> ? MeteredStream<Chunk> : T;

/**
 * The body of a commit. The server counts a commit's `tokens` 1:1 today, so
 * every kind of token counts once; `input_tokens`, `cached_input_tokens`,
 * `output_tokens` and `model` go here once commits take them.
 */
export function commitInput(usage: TokenUsage, eventId: string, shopId: string): CommitInput {
  return { tokens: totalTokens(usage), event_id: eventId, shop_id: shopId };
}

/**
 * The body of `POST /v1/usage` for a call's usage, without a hold. The server
 * takes `tokens`, `input_tokens`, `output_tokens` and `model` today: `tokens`
 * counts every kind once and `input_tokens` holds all input, cached included;
 * `cached_input_tokens` goes here once the server takes it.
 */
export function usageInput(event: Pick<UsageInput, 'event_id' | 'shop_id' | 'user_id' | 'enforce'>, usage: TokenUsage): UsageInput {
  return {
    ...event,
    tokens: totalTokens(usage),
    input_tokens: usage.input_tokens + usage.cached_input_tokens,
    output_tokens: usage.output_tokens,
    ...(usage.model === undefined ? {} : { model: usage.model }),
  };
}

/** One held LLM call: settle it once with `commit`, `release` or `cancel`; later calls answer the first settlement. */
export class Meter {
  readonly id: string;
  readonly reservation: Reservation;
  /** Resolves when the meter is settled, to what was counted; rejects when settling it failed. */
  readonly settled: Promise<Settlement>;
  readonly #client: AllotClient;
  #settling: Promise<Settlement> | null = null;
  #resolve!: (settlement: Promise<Settlement>) => void;

  constructor(client: AllotClient, id: string, reservation: Reservation) {
    this.#client = client;
    this.id = id;
    this.reservation = reservation;
    this.settled = new Promise((resolve) => {
      this.#resolve = resolve;
    });
    // Failures reach whoever settles; an unread `settled` must not end the process.
    this.settled.catch(() => undefined);
  }

  /** Records the usage (without one, the estimate) as the event `id`, and frees the hold. */
  commit(usage?: TokenUsage): Promise<Settlement> {
    return this.#settle(() => this.#commit(usage));
  }

  /** Frees the hold; nothing counts. */
  release(): Promise<Settlement> {
    return this.#settle(() => this.#release(null));
  }

  /** The call stopped early: records the usage the SDK reported so far, or frees the hold when it reported none. */
  cancel(usage?: TokenUsage): Promise<Settlement> {
    return usage === undefined ? this.release() : this.commit(usage);
  }

  #settle(settle: () => Promise<Settlement>): Promise<Settlement> {
    if (this.#settling === null) {
      this.#settling = settle();
      this.#resolve(this.#settling);
    }
    return this.#settling;
  }

  async #commit(usage: TokenUsage | undefined): Promise<Settlement> {
    const held = this.reservation;
    const counted = usage ?? { input_tokens: 0, cached_input_tokens: 0, output_tokens: held.tokens };
    try {
      const commit = await transientRetries(() =>
        this.#client.reservations.commit(held.id, commitInput(counted, this.id, held.shop_id)));
      return { outcome: 'committed', tokens: commit.tokens, usage: usage ?? null, commit };
    } catch (error) {
      // The hold is this try's own, so a conflict means the event id counted already (an earlier try).
      if (error instanceof AllotApiError && error.code === 'idempotency_conflict') {
        const released = await this.#release(usage ?? null);
        return { ...released, outcome: 'duplicate' };
      }
      throw error;
    }
  }

  async #release(usage: TokenUsage | null): Promise<Settlement> {
    await transientRetries(() => this.#client.reservations.release(this.reservation.id, { shop_id: this.reservation.shop_id }));
    return { outcome: 'released', tokens: 0, usage, commit: null };
  }
}

/** The server's rule for a client's event id: refused before the call runs, not at its commit. */
const EVENT_ID = /^(?!reservation:)[A-Za-z0-9._:@-]{1,128}$/;

export async function openMeter(client: AllotClient, options: MeterOptions): Promise<Meter> {
  if (!EVENT_ID.test(options.id)) {
    throw new TypeError(`id ${JSON.stringify(options.id)} must be 1–128 characters of A-Z a-z 0-9 . _ : @ - (not starting "reservation:")`);
  }
  const reservation = await transientRetries(() => client.reservations.create({
    reservation_id: holdId(),
    shop_id: options.shop_id,
    user_id: options.user_id,
    tokens: options.estimate,
    ...(options.ttl_seconds === undefined ? {} : { ttl_seconds: options.ttl_seconds }),
  }));
  return new Meter(client, options.id, reservation);
}

export async function runMetered<T>(client: AllotClient, options: MeteredOptions, call: () => PromiseLike<T> | T): Promise<MeteredResult<T>> {
  const meter = await openMeter(client, options);
  let answer: T;
  let usage: TokenUsage | undefined;
  try {
    answer = await call();
    if (isAsyncIterable(answer)) return meteredStream(answer, meter, options.usage.stream()) as MeteredResult<T>;
    usage = options.usage.response(answer);
  } catch (error) {
    // The call's failure is the caller's news; an unreleased hold frees itself when its time is up.
    await meter.release().catch(() => undefined);
    throw error;
  }
  await meter.commit(usage);
  return answer as MeteredResult<T>;
}

function meteredStream<Chunk>(source: AsyncIterable<Chunk>, meter: Meter, read: (chunk: unknown) => TokenUsage | undefined): MeteredStream<Chunk> {
  let usage: TokenUsage | undefined;
  async function* chunks(): AsyncGenerator<Chunk, void, undefined> {
    let outcome: 'ended' | 'failed' | 'stopped' = 'stopped';
    try {
      for await (const chunk of source) {
        usage = read(chunk);
        yield chunk;
      }
      outcome = 'ended';
    } catch (error) {
      outcome = 'failed';
      await meter.cancel(usage).catch(() => undefined);
      throw error;
    } finally {
      // Ended: what the stream reported (or the estimate); stopped by the reader: what it reported so far.
      if (outcome === 'ended') await meter.commit(usage);
      if (outcome === 'stopped') await meter.cancel(usage);
    }
  }
  const iterator = chunks();
  return { meter, [Symbol.asyncIterator]: () => iterator };
}

/**
 * `streamText`'s `onFinish`, `onAbort` and `onError` for the AI SDK, settling
 * `meter`: the total usage when the stream finishes, the finished steps' when
 * it is aborted (none: released), released on an error. A failed settlement
 * shows in `meter.settled`.
 */
export function aiSdkCallbacks(meter: Meter): {
  onFinish(event: unknown): Promise<void>;
  onAbort(event: unknown): Promise<void>;
  onError(event: unknown): Promise<void>;
} {
  const quietly = async (settlement: Promise<Settlement>) => {
    await settlement.catch(() => undefined);
  };
  return {
    onFinish: (event) => quietly(meter.commit(aiSdkUsage.response(event))),
    onAbort: (event) => quietly(meter.cancel(finishedSteps(event))),
    onError: () => quietly(meter.release()),
  };
}

function finishedSteps(event: unknown): TokenUsage | undefined {
  const steps = (event as { steps?: unknown } | null)?.steps;
  if (!Array.isArray(steps)) return undefined;
  const read = aiSdkUsage.stream();
  let usage: TokenUsage | undefined;
  for (const step of steps as Array<{ usage?: unknown; response?: unknown } | null>) {
    usage = read({ type: 'finish-step', usage: step?.usage, response: step?.response });
  }
  return usage;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === 'function';
}

/** A reservation id of its own for each try: a repeated create (a lost answer) finds the same hold. */
function holdId(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  return `hold:${Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}

const TRIES = 3;

/** Network failures and 5xx answers are tried again: every call here is idempotent by its reservation. */
async function transientRetries<T>(attempt: () => Promise<T>): Promise<T> {
  for (let tried = 1; ; tried++) {
    try {
      return await attempt();
    } catch (error) {
      const transient = error instanceof AllotApiError ? error.status >= 500 : error instanceof TypeError;
      if (!transient || tried === TRIES) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * 4 ** (tried - 1)));
    }
  }
}
