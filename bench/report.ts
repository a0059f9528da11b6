/** The progress line while the benchmark runs, the closing table, and the results JSON. */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export interface Figure {
  /** What was measured, e.g. "POST /v1/usage recorded, SQLite FULL". */
  name: string;
  value: number;
  unit: string;
  /** The target in words, e.g. "≥ 0.5× baseline"; empty when the figure is for information. */
  target: string;
  /** null when the figure has no target. */
  pass: boolean | null;
  detail?: Record<string, unknown>;
}

const tty = process.stderr.isTTY === true;

class Progress {
  #timer: NodeJS.Timeout | undefined;
  #step = 0;
  #steps = 0;

  plan(steps: number): void {
    this.#steps = steps;
  }

  start(label: string, detail: () => string): void {
    this.stop();
    this.#step++;
    const started = Date.now();
    const line = () => `[${this.#step}/${this.#steps}] ${label}: ${detail()}, ${((Date.now() - started) / 1000).toFixed(0)} s`;
    if (tty) {
      this.#timer = setInterval(() => process.stderr.write(`\r\x1b[2K${line()}`), 250);
    } else {
      process.stderr.write(`${line()}\n`);
      this.#timer = setInterval(() => process.stderr.write(`${line()}\n`), 10_000);
    }
    this.#timer.unref();
  }

  /** A step with no countable progress of its own (seeding, a sweep). */
  async around<T>(label: string, work: () => Promise<T>): Promise<T> {
    this.start(label, () => 'working');
    try {
      return await work();
    } finally {
      this.stop();
    }
  }

  stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (tty) process.stderr.write('\r\x1b[2K');
  }
}

export const progress = new Progress();

function formatValue(f: Figure): string {
  const digits = Math.abs(f.value) >= 100 ? 0 : 2;
  return `${f.value.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits === 0 ? 0 : 2 })} ${f.unit}`.trim();
}

export function table(figures: readonly Figure[]): string {
  const rows = figures.map((f) => [f.name, formatValue(f), f.target || '—', f.pass === null ? '' : f.pass ? 'ok' : 'MISSED']);
  const header = ['figure', 'measured', 'target', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memory_gb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
  };
}

export function writeResults(run: { started_at: string; settings: Record<string, unknown>; figures: readonly Figure[]; ledger: unknown }): string {
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const json = `${JSON.stringify({ ...run, machine: machine() }, null, 2)}\n`;
  const file = `${dir}${run.started_at.replace(/[:.]/g, '-')}.json`;
  writeFileSync(file, json);
  writeFileSync(`${dir}latest.json`, json);
  return file;
}
