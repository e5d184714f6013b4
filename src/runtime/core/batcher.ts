// Runs preprocessed images through one session, one run at a time. ORT web rejects concurrent
// run() calls on a session ("Session already started"); instead of only queueing, requests that
// arrive while a run is in flight are coalesced into the next batch, so concurrent callers share
// runs. Node gets the same path: one code path, tested everywhere.
import { DisposedError } from './errors.js';
import type { FloatTensor, InferenceHandle } from './platform.js';

interface Request {
  inputs: Float32Array[];
  fetch: readonly string[];
  resolve(outputs: Record<string, FloatTensor>[]): void;
  reject(e: unknown): void;
}

export interface BatcherOptions {
  inputName: string;
  /** Shape of one image: [channels, height, width]. */
  itemShape: readonly [number, number, number];
  maxBatch: number;
  /** Set when the graph has a fixed batch size: every run is padded to it. */
  fixedBatch?: number;
}

export class Batcher {
  private queue: Request[] = [];
  private draining: Promise<void> | null = null;
  private closed = false;
  private readonly itemSize: number;

  constructor(
    private readonly session: InferenceHandle,
    private readonly opts: BatcherOptions,
  ) {
    this.itemSize = opts.itemShape[0] * opts.itemShape[1] * opts.itemShape[2];
  }

  /** Scores up to maxBatch images; resolves to each image's requested outputs. */
  submit(inputs: Float32Array[], fetch: readonly string[]): Promise<Record<string, FloatTensor>[]> {
    if (this.closed) return Promise.reject(new DisposedError('detector has been disposed'));
    if (inputs.length === 0) return Promise.resolve([]);
    if (inputs.length > this.opts.maxBatch) {
      return Promise.reject(new RangeError(`at most ${this.opts.maxBatch} images per submit; got ${inputs.length}`));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ inputs, fetch, resolve, reject });
      // Started in a microtask so that calls made in the same tick share the first run.
      this.draining ??= Promise.resolve().then(() => this.drain());
    });
  }

  /** Rejects new work, waits for queued work to finish. */
  async close(): Promise<void> {
    this.closed = true;
    await this.draining;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch: Request[] = [];
      let n = 0;
      while (this.queue.length > 0 && n + this.queue[0]!.inputs.length <= this.opts.maxBatch) {
        const r = this.queue.shift()!;
        batch.push(r);
        n += r.inputs.length;
      }
      try {
        const outputs = await this.run(batch, n);
        let offset = 0;
        for (const r of batch) {
          r.resolve(r.inputs.map((_, i) => pick(outputs, r.fetch, offset + i)));
          offset += r.inputs.length;
        }
      } catch (e) {
        for (const r of batch) r.reject(e);
      }
    }
    this.draining = null;
  }

  private run(batch: Request[], n: number): Promise<Record<string, FloatTensor>> {
    const rows = this.opts.fixedBatch ?? n;
    const data = new Float32Array(rows * this.itemSize);
    let slot = 0;
    for (const r of batch) for (const x of r.inputs) data.set(x, this.itemSize * slot++);
    const fetch = [...new Set(batch.flatMap((r) => r.fetch))];
    return this.session.run(this.opts.inputName, { data, dims: [rows, ...this.opts.itemShape] }, fetch);
  }
}

/** Row `i` of each requested output, copied so results do not pin the whole batch in memory. */
function pick(outputs: Record<string, FloatTensor>, names: readonly string[], i: number): Record<string, FloatTensor> {
  const row: Record<string, FloatTensor> = {};
  for (const name of names) {
    const t = outputs[name]!;
    const rest = t.dims.slice(1);
    const size = rest.reduce((a, b) => a * b, 1);
    row[name] = { data: t.data.slice(i * size, (i + 1) * size), dims: rest };
  }
  return row;
}
