/** Prometheus text exposition of request counts and latencies; labels never name a shop. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

export class Metrics {
  readonly #requests = new Map<string, number>();
  readonly #durations = new Map<string, Histogram>();
  readonly #started = Date.now();

  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `method="${method}",route="${route}",status="${status}"`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    const hKey = `method="${method}",route="${route}"`;
    let h = this.#durations.get(hKey);
    if (!h) {
      h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.#durations.set(hKey, h);
    }
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) h.counts[i]!++;
    h.sum += seconds;
    h.count++;
  }

  render(): string {
    const lines = [
      '# HELP allot_http_requests_total HTTP requests answered, by route and status.',
      '# TYPE allot_http_requests_total counter',
    ];
    for (const [labels, n] of this.#requests) lines.push(`allot_http_requests_total{${labels}} ${n}`);
    lines.push('# HELP allot_http_request_duration_seconds Time to answer, by route.', '# TYPE allot_http_request_duration_seconds histogram');
    for (const [labels, h] of this.#durations) {
      BUCKETS.forEach((le, i) => lines.push(`allot_http_request_duration_seconds_bucket{${labels},le="${le}"} ${h.counts[i]}`));
      lines.push(`allot_http_request_duration_seconds_bucket{${labels},le="+Inf"} ${h.count}`);
      lines.push(`allot_http_request_duration_seconds_sum{${labels}} ${h.sum}`);
      lines.push(`allot_http_request_duration_seconds_count{${labels}} ${h.count}`);
    }
    const memory = process.memoryUsage();
    lines.push(
      '# HELP allot_process_resident_memory_bytes Resident set size.',
      '# TYPE allot_process_resident_memory_bytes gauge',
      `allot_process_resident_memory_bytes ${memory.rss}`,
      '# HELP allot_process_uptime_seconds Seconds since start.',
      '# TYPE allot_process_uptime_seconds gauge',
      `allot_process_uptime_seconds ${(Date.now() - this.#started) / 1000}`,
    );
    return `${lines.join('\n')}\n`;
  }
}
