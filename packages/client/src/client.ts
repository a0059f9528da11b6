/**
 * A typed client for the allot HTTP API. It needs only the global `fetch`
 * (or one passed in), so it runs in Node 20+, browsers and edge runtimes.
 *
 * @example
 * const allot = new AllotClient({ baseUrl: 'http://127.0.0.1:8080', apiKey: ALLOT_KEY });
 * await allot.subscriptions.put('acme', 'alice', { plan_id: 'pro' });
 * try {
 *   await allot.usage.record({ event_id: 'evt-1', shop_id: 'acme', user_id: 'alice', tokens: 1200, enforce: true });
 * } catch (error) {
 *   if (error instanceof AllotApiError && error.code === 'quota_exceeded') wait(error.retryAfter);
 * }
 * for await (const sub of allot.subscriptions.iterate({ shop_id: 'acme' })) console.log(sub.user_id);
 */
import type {
  ApiKey, ApiKeyInput, CancelInput, CheckInput, CheckResult, Clock, CommitInput, CommitResult, CreatedApiKey, DailySeries,
  PeriodSummary, Plan, PlanInput, ShopOverview, ReleaseInput, RenewalResult, Reservation, ReservationInput, Subscription,
  SubscriptionChange, SubscriptionChangeInput, SubscriptionStatus, TestClockInput, UsageEvent, UsageInput, UsageResult,
} from './types.generated.js';
import { AllotApiError, isProblem, syntheticProblem } from './errors.js';
import { openMeter, runMetered, type Meter, type MeteredOptions, type MeteredResult, type MeterOptions } from './meter.js';

export type SubscriptionStatusValue = Subscription['status'];
export type Alert = SubscriptionStatus['alerts'][number];
export type Recommendation = SubscriptionStatus['recommendations'][number];
export interface ShopOverviewParams extends PageParams {
  from?: string;
  to?: string;
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export interface PageParams {
  /** 1–100, default 20. */
  limit?: number;
  cursor?: string;
}

export interface PlanListParams extends PageParams {
  include_archived?: boolean;
}

export interface SubscriptionListParams extends PageParams {
  shop_id?: string;
  status?: SubscriptionStatusValue;
}

export interface UsageListParams extends PageParams {
  shop_id?: string;
  user_id?: string;
  /** An RFC 3339 instant or a day `YYYY-MM-DD`; included. */
  from?: string;
  /** An RFC 3339 instant (excluded) or a day `YYYY-MM-DD` (included whole); not before `from`. */
  to?: string;
}

export interface DailyUsageParams {
  /** Days `YYYY-MM-DD`; default: the current period's first day to today. */
  from?: string;
  to?: string;
}

export interface WriteOptions {
  /** Sent as `Idempotency-Key`: a repeat with the same body replays the first answer and does not run twice. */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export interface ReadOptions {
  signal?: AbortSignal;
}

export interface AllotClientOptions {
  /** The server's origin, e.g. `http://127.0.0.1:8080`; a path prefix is kept. */
  baseUrl: string;
  apiKey: string;
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
}

type QueryValue = string | number | boolean | undefined | null;

export interface RequestSpec {
  query?: Record<string, QueryValue>;
  body?: unknown;
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export interface AllotResponse<T> {
  status: number;
  data: T;
  headers: Headers;
  /** The server answered from its idempotency store (`Idempotent-Replayed: true`). */
  replayed: boolean;
}

const segment = encodeURIComponent;

/**
 * Walks a paginated list to its end, one page at a time.
 *
 * @example
 * for await (const plan of paginate((cursor) => client.plans.list({ cursor, limit: 100 }))) console.log(plan.id);
 */
export async function* paginate<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>): AsyncGenerator<T, void, undefined> {
  let cursor: string | undefined;
  do {
    const page = await fetchPage(cursor);
    yield* page.data;
    cursor = page.next_cursor ?? undefined;
  } while (cursor !== undefined);
}

export class AllotClient {
  readonly baseUrl: string;
  readonly #apiKey: string;
  readonly #fetch: typeof fetch;
  readonly #headers: Record<string, string>;

  constructor(options: AllotClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#apiKey = options.apiKey;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#headers = options.headers ?? {};
  }

  /** The low-level call every method uses; answers the parsed body with status and headers, or throws `AllotApiError`. */
  async request<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, spec: RequestSpec = {}): Promise<AllotResponse<T>> {
    const url = new URL(this.baseUrl + path);
    for (const [name, value] of Object.entries(spec.query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = { ...this.#headers, authorization: `Bearer ${this.#apiKey}`, accept: 'application/json' };
    if (spec.body !== undefined) headers['content-type'] = 'application/json';
    if (spec.idempotencyKey !== undefined) headers['idempotency-key'] = spec.idempotencyKey;
    const response = await this.#fetch(url, {
      method,
      headers,
      body: spec.body === undefined ? undefined : JSON.stringify(spec.body),
      signal: spec.signal,
    });
    const text = await response.text();
    let parsed: unknown;
    let isJson = true;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      isJson = false;
    }
    if (!response.ok) {
      throw new AllotApiError(isJson && isProblem(parsed) ? parsed : syntheticProblem(response.status, response.statusText, text), response.headers);
    }
    if (!isJson) {
      throw new AllotApiError(syntheticProblem(response.status, 'Not JSON', text), response.headers);
    }
    return { status: response.status, data: parsed as T, headers: response.headers, replayed: response.headers.get('idempotent-replayed') === 'true' };
  }

  async #data<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, spec: RequestSpec = {}): Promise<T> {
    return (await this.request<T>(method, path, spec)).data;
  }

  /**
   * Holds `estimate` tokens for one LLM call and answers its meter, to settle
   * when the call is done: `commit(usage)`, `release()`, or `cancel(usage)`.
   * For SDKs that report through callbacks (the AI SDK's `streamText`).
   */
  meter(options: MeterOptions): Promise<Meter> {
    return openMeter(this, options);
  }

  /**
   * Runs an LLM call under a hold: commits the usage its answer reports and
   * answers the answer, or releases the hold when the call throws. A stream is
   * answered as a metered stream that commits the final usage chunk when it
   * ends, and on a stop or failure commits what was reported so far, else releases.
   */
  metered<T>(options: MeteredOptions, call: () => PromiseLike<T> | T): Promise<MeteredResult<T>> {
    return runMetered(this, options, call);
  }

  readonly plans = {
    create: (plan: PlanInput, options: WriteOptions = {}) => this.#data<Plan>('POST', '/v1/plans', { body: plan, ...options }),
    list: (params: PlanListParams = {}, options: ReadOptions = {}) =>
      this.#data<Page<Plan>>('GET', '/v1/plans', { query: { ...params }, ...options }),
    iterate: (params: Omit<PlanListParams, 'cursor'> = {}) => paginate((cursor) => this.plans.list({ ...params, cursor })),
    get: (id: string, options: ReadOptions = {}) => this.#data<Plan>('GET', `/v1/plans/${segment(id)}`, options),
    archive: (id: string, options: WriteOptions = {}) => this.#data<Plan>('POST', `/v1/plans/${segment(id)}/archive`, options),
  };

  readonly subscriptions = {
    /** Creates (status 201) or changes (200) the live subscription of (shop, user). */
    put: (shopId: string, userId: string, change: SubscriptionChangeInput, options: WriteOptions = {}) =>
      this.#data<SubscriptionChange>('PUT', subscriptionPath(shopId, userId), { body: change, ...options }),
    get: (shopId: string, userId: string, options: ReadOptions = {}) =>
      this.#data<Subscription>('GET', subscriptionPath(shopId, userId), options),
    list: (params: SubscriptionListParams = {}, options: ReadOptions = {}) =>
      this.#data<Page<Subscription>>('GET', '/v1/subscriptions', { query: { ...params }, ...options }),
    iterate: (params: Omit<SubscriptionListParams, 'cursor'> = {}) =>
      paginate((cursor) => this.subscriptions.list({ ...params, cursor })),
    /** At the period end by default; `{ at_period_end: false }` cancels now. */
    cancel: (shopId: string, userId: string, input: CancelInput = {}, options: WriteOptions = {}) =>
      this.#data<Subscription>('POST', `${subscriptionPath(shopId, userId)}/cancel`, { body: input, ...options }),
    suspend: (shopId: string, userId: string, options: WriteOptions = {}) =>
      this.#data<Subscription>('POST', `${subscriptionPath(shopId, userId)}/suspend`, options),
    resume: (shopId: string, userId: string, options: WriteOptions = {}) =>
      this.#data<Subscription>('POST', `${subscriptionPath(shopId, userId)}/resume`, options),
    /** Closed periods, newest first. */
    periods: (shopId: string, userId: string, params: PageParams = {}, options: ReadOptions = {}) =>
      this.#data<Page<PeriodSummary>>('GET', `${subscriptionPath(shopId, userId)}/periods`, { query: { ...params }, ...options }),
    iteratePeriods: (shopId: string, userId: string, params: Omit<PageParams, 'cursor'> = {}) =>
      paginate((cursor) => this.subscriptions.periods(shopId, userId, { ...params, cursor })),
    status: (shopId: string, userId: string, params: { include_history?: boolean } = {}, options: ReadOptions = {}) =>
      this.#data<SubscriptionStatus>('GET', `${subscriptionPath(shopId, userId)}/status`, { query: { ...params }, ...options }),
    dailyUsage: (shopId: string, userId: string, params: DailyUsageParams = {}, options: ReadOptions = {}) =>
      this.#data<DailySeries>('GET', `${subscriptionPath(shopId, userId)}/usage/daily`, { query: { ...params }, ...options }),
  };

  readonly usage = {
    /** Exactly once per (shop_id, event_id): a repeat answers the first result with `duplicate: true`. */
    record: (usage: UsageInput, options: WriteOptions = {}) => this.#data<UsageResult>('POST', '/v1/usage', { body: usage, ...options }),
    list: (params: UsageListParams = {}, options: ReadOptions = {}) =>
      this.#data<Page<UsageEvent>>('GET', '/v1/usage', { query: { ...params }, ...options }),
    iterate: (params: Omit<UsageListParams, 'cursor'> = {}) => paginate((cursor) => this.usage.list({ ...params, cursor })),
    /** Did this event count? `shop_id` is needed with an admin key. */
    get: (eventId: string, params: { shop_id?: string } = {}, options: ReadOptions = {}) =>
      this.#data<UsageEvent>('GET', `/v1/usage/${segment(eventId)}`, { query: { ...params }, ...options }),
    check: (input: CheckInput, options: WriteOptions = {}) => this.#data<CheckResult>('POST', '/v1/check', { body: input, ...options }),
  };

  readonly reservations = {
    create: (input: ReservationInput, options: WriteOptions = {}) =>
      this.#data<Reservation>('POST', '/v1/reservations', { body: input, ...options }),
    get: (id: string, params: { shop_id?: string } = {}, options: ReadOptions = {}) =>
      this.#data<Reservation>('GET', `/v1/reservations/${segment(id)}`, { query: { ...params }, ...options }),
    commit: (id: string, input: CommitInput, options: WriteOptions = {}) =>
      this.#data<CommitResult>('POST', `/v1/reservations/${segment(id)}/commit`, { body: input, ...options }),
    release: (id: string, input: ReleaseInput = {}, options: WriteOptions = {}) =>
      this.#data<Reservation>('POST', `/v1/reservations/${segment(id)}/release`, { body: input, ...options }),
  };

  readonly apiKeys = {
    /** The secret `key` is in this answer only. */
    create: (input: ApiKeyInput, options: WriteOptions = {}) => this.#data<CreatedApiKey>('POST', '/v1/api-keys', { body: input, ...options }),
    list: (params: PageParams = {}, options: ReadOptions = {}) =>
      this.#data<Page<ApiKey>>('GET', '/v1/api-keys', { query: { ...params }, ...options }),
    iterate: (params: Omit<PageParams, 'cursor'> = {}) => paginate((cursor) => this.apiKeys.list({ ...params, cursor })),
    revoke: (id: string, options: ReadOptions = {}) => this.#data<ApiKey>('DELETE', `/v1/api-keys/${segment(id)}`, options),
  };

  readonly shops = {
    /** Counts by plan and status, tokens per day, and a page of live subscriptions, those at risk first. */
    overview: (shopId: string, params: ShopOverviewParams = {}, options: ReadOptions = {}) =>
      this.#data<ShopOverview>('GET', `/v1/shops/${segment(shopId)}/overview`, { query: { ...params }, ...options }),
  };

  readonly renewals = {
    run: (options: WriteOptions = {}) => this.#data<RenewalResult>('POST', '/v1/renewals/run', options),
  };

  readonly testClock = {
    get: (options: ReadOptions = {}) => this.#data<Clock>('GET', '/v1/test-clock', options),
    /** Only on a server started with `ALLOT_TEST_CLOCK`; the clock moves forward only. */
    set: (now: string | Date, options: WriteOptions = {}) =>
      this.#data<Pick<Clock, 'now'>>('PUT', '/v1/test-clock', {
        body: { now: typeof now === 'string' ? now : now.toISOString() } satisfies TestClockInput,
        ...options,
      }),
  };
}

function subscriptionPath(shopId: string, userId: string): string {
  return `/v1/subscriptions/${segment(shopId)}/${segment(userId)}`;
}
