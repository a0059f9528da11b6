/**
 * Request latency with microsecond resolution: one keep-alive connection
 * sends a GET, waits for the whole answer, and sends the next.
 */
import http from 'node:http';
import { progress } from './report.ts';

export interface LatencyResult {
  requests: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
}

export async function measureLatency(label: string, url: string, path: string, headers: Record<string, string>, seconds: number): Promise<LatencyResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const samples: number[] = [];
  let non2xx = 0;
  const get = () =>
    new Promise<number>((resolve, reject) => {
      const started = process.hrtime.bigint();
      const req = http.get(`${url}${path}`, { agent, headers }, (res) => {
        res.on('data', () => {});
        res.on('end', () => {
          if ((res.statusCode ?? 0) >= 300) non2xx++;
          resolve(Number(process.hrtime.bigint() - started) / 1e6);
        });
        res.on('error', reject);
      });
      req.on('error', reject);
    });
  progress.start(label, () => `${samples.length.toLocaleString('en')} requests`);
  try {
    const end = Date.now() + seconds * 1000;
    while (Date.now() < end) samples.push(await get());
  } finally {
    progress.stop();
    agent.destroy();
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  return {
    requests: samples.length,
    meanMs: samples.reduce((a, b) => a + b, 0) / samples.length,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    non2xx,
  };
}
