// Prometheus text exposition (format 0.0.4) for the few metric kinds the server needs: counters
// and histograms with labels, and gauges read at scrape time. No client library: the format is
// small, and owning it keeps the server dependency-free.

type Labels = Record<string, string>;

interface Metric {
  render(): string[];
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const pairs = Object.entries(labels);
  if (extra) pairs.push(extra);
  if (pairs.length === 0) return '';
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

function num(x: number): string {
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  return Number.isNaN(x) ? 'NaN' : String(x);
}

function header(name: string, help: string, type: string): string[] {
  return [`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`];
}

/** Series keyed by their label values, in first-seen order. */
class Series<T> {
  private readonly map = new Map<string, { labels: Labels; value: T }>();
  constructor(private readonly make: () => T) {}
  get(labels: Labels): T {
    const key = JSON.stringify(labels);
    let s = this.map.get(key);
    if (!s) this.map.set(key, (s = { labels, value: this.make() }));
    return s.value;
  }
  entries(): { labels: Labels; value: T }[] {
    return [...this.map.values()];
  }
}

export class Counter implements Metric {
  private readonly series = new Series(() => ({ n: 0 }));
  constructor(readonly name: string, private readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    this.series.get(labels).n += by;
  }
  value(labels: Labels = {}): number {
    return this.series.get(labels).n;
  }
  render(): string[] {
    return [...header(this.name, this.help, 'counter'), ...this.series.entries().map((s) => `${this.name}${labelText(s.labels)} ${num(s.value.n)}`)];
  }
}

/** A gauge whose value is read when scraped (queue depth, resident memory). */
export class Gauge implements Metric {
  constructor(readonly name: string, private readonly help: string, private readonly read: () => { labels?: Labels; value: number }[]) {}
  render(): string[] {
    return [...header(this.name, this.help, 'gauge'), ...this.read().map((s) => `${this.name}${labelText(s.labels ?? {})} ${num(s.value)}`)];
  }
}

export class Histogram implements Metric {
  private readonly series: Series<{ counts: number[]; sum: number; count: number }>;
  constructor(readonly name: string, private readonly help: string, private readonly buckets: readonly number[]) {
    if (buckets.some((b, i) => i > 0 && b <= buckets[i - 1]!)) throw new RangeError(`${name}: buckets must increase`);
    this.series = new Series(() => ({ counts: buckets.map(() => 0), sum: 0, count: 0 }));
  }
  observe(value: number, labels: Labels = {}): void {
    const s = this.series.get(labels);
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  render(): string[] {
    const lines = header(this.name, this.help, 'histogram');
    for (const { labels, value: s } of this.series.entries()) {
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${labelText(labels, ['le', num(b)])} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${labelText(labels, ['le', '+Inf'])} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(labels)} ${num(s.sum)}`);
      lines.push(`${this.name}_count${labelText(labels)} ${s.count}`);
    }
    return lines;
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];
  add<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }
  /** The full exposition, ending with a newline as the format requires. */
  render(): string {
    return `${this.metrics.flatMap((m) => m.render()).join('\n')}\n`;
  }
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Powers of two up to `max` (and `max` itself): one bucket per plausible batch size. */
export function batchBuckets(max: number): number[] {
  const b: number[] = [];
  for (let x = 1; x < max; x *= 2) b.push(x);
  b.push(max);
  return b;
}

export const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
