/**
 * What `npm run bench` does, from the environment:
 *
 *   BENCH_SCALE=1        multiplies every request and row count (0.05 for a
 *                        quick check; 1 is the full run, about 5 minutes)
 *   BENCH_ONLY=a,b       only these scenarios: throughput, hot, status, sweep, postgres
 *   BENCH_POSTGRES=0     skip the PostgreSQL scenario
 */
export interface BenchSettings {
  scale: number;
  only: Set<string> | null;
  postgres: boolean;
  /** Connections for recorded usage (baseline and allot alike). */
  connections: number;
  /** Connections for the hot-subscription scenarios. */
  hotConnections: number;
  warmupRequests: number;
  /** Measured requests, per server, of the side-by-side throughput figure. */
  throughputRequests: number;
  /** Usage events after which the first and the last RSS samples are taken. */
  memoryEvents: { first: number; last: number };
  hotRequests: number;
  statusEvents: number;
  statusSeconds: number;
  sweepSubscriptions: number;
  postgresRequests: number;
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): BenchSettings {
  const scale = Number(env.BENCH_SCALE ?? 1);
  if (!(scale > 0)) throw new Error('BENCH_SCALE must be a positive number');
  const n = (count: number) => Math.max(1000, Math.round(count * scale));
  return {
    scale,
    only: env.BENCH_ONLY ? new Set(env.BENCH_ONLY.split(',').map((s) => s.trim())) : null,
    postgres: env.BENCH_POSTGRES !== '0',
    connections: 32,
    hotConnections: 64,
    warmupRequests: n(20_000),
    throughputRequests: n(300_000),
    memoryEvents: { first: n(100_000), last: n(1_000_000) },
    hotRequests: n(200_000),
    statusEvents: n(1_000_000),
    statusSeconds: Math.max(2, Math.round(10 * Math.min(1, scale * 4))),
    sweepSubscriptions: n(100_000),
    postgresRequests: n(100_000),
  };
}
