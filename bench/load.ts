/**
 * Load generation through autocannon's programmatic API. Every request is
 * built fresh by a step function (a new event_id each time), and the tokens
 * of every 2xx answer are added up for the ledger check. Runs are sized by
 * request count, not duration, so every request sent is answered before the
 * run ends and the ledger can be exact.
 */
import autocannon from 'autocannon';
import { progress } from './report.ts';

export interface Step {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  /** Tokens this request asks to be counted; added to `ackedTokens` when answered 2xx. */
  tokens?: number;
}

/** Builds the next request of a connection; `context` lives for one pass over the steps. */
export type StepFn = (context: Record<string, unknown>) => Step;

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  latencyMs: { mean: number; p50: number; p99: number };
  statuses: Record<string, number>;
  errors: number;
  ackedTokens: number;
  ackedRequests: number;
}

export interface LoadOptions {
  label: string;
  url: string;
  connections: number;
  amount: number;
  headers?: Record<string, string>;
  steps: StepFn[];
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  let ackedTokens = 0;
  let ackedRequests = 0;
  const requests = options.steps.map((step) => ({
    setupRequest: (request: { headers?: Record<string, string> }, context: Record<string, unknown>) => {
      const next = step(context);
      context.tokens = next.tokens ?? 0;
      return {
        ...request,
        method: next.method,
        path: next.path,
        body: next.body === undefined ? undefined : JSON.stringify(next.body),
      };
    },
    onResponse: (status: number, _body: string, context: Record<string, unknown>) => {
      if (status >= 200 && status < 300) {
        ackedRequests++;
        ackedTokens += context.tokens as number;
      }
    },
  }));
  // Every connection runs whole passes over the steps (a hold is always followed by its commit).
  const pass = options.connections * options.steps.length;
  const total = Math.ceil(Math.max(options.amount, pass) / pass) * pass;
  const started = process.hrtime.bigint();
  // autocannon reports the end of a run on its one-second tick: time the run to its last answer instead.
  let lastAnswer = started;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        amount: total,
        timeout: 60,
        headers: { 'content-type': 'application/json', ...options.headers },
        requests,
      },
      (error, res) => (error ? reject(error) : resolve(res)),
    );
    let done = 0;
    progress.start(options.label, () => `${done.toLocaleString('en')}/${total.toLocaleString('en')} req`);
    instance.on('response', () => {
      done++;
      lastAnswer = process.hrtime.bigint();
    });
  });
  progress.stop();
  const seconds = Number(lastAnswer - started) / 1e9;
  const statuses: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats)) statuses[code] = count;
  const answered = Object.values(statuses).reduce((a, b) => a + b, 0);
  return {
    requests: answered,
    seconds,
    rps: answered / seconds,
    latencyMs: { mean: result.latency.mean, p50: result.latency.p50, p99: result.latency.p99 },
    statuses,
    errors: result.errors,
    ackedTokens,
    ackedRequests,
  };
}

