// Kept apart from the runtime's batcher (src/runtime/core/batcher.ts) because the two do different
// jobs: that one packs one run's inputs into a tensor (padding a fixed-batch graph) and splits the
// outputs back per image, while this one decides when a run starts and which queued images join it
// (a wait window, a run at once when no admitted company is on its way, per-item cancellation and
// retry, a hook per batch), each of its batches being one call into the runtime's.
//
// Cross-request micro-batching: the runtime already coalesces work that arrives while a run is in
// flight; this adds what a server needs on top: a wait window so a burst that arrives within a few
// milliseconds shares one ONNX Runtime run, a bounded view of the queue, per-item cancellation
// (timeouts), and a hook that sees every batch (for metrics).
//
// One batch runs at a time: the session runs in a worker thread by default (serve's
// sessionInWorker; in the main thread with --session-in-main-thread), one run at a time either
// way, so a second concurrent run would only queue behind the first.
import { GanomalyError } from '@ganomaly-edge/runtime/node';

/** A queued image left the queue because its request ended (timeout, departed client, shutdown). */
export class CancelledError extends GanomalyError {
  override name = 'CancelledError';
  readonly code = 'cancelled';
}

interface Job<In, Out> {
  input: In;
  enqueuedAt: number;
  resolve(out: Out): void;
  reject(e: unknown): void;
  done: boolean;
}

export interface MicroBatcherOptions<In, Out> {
  /** Scores a list of inputs; results in the same order. */
  run(inputs: In[]): Promise<Out[]>;
  /** Most items per run. */
  maxBatch: number;
  /** How long the oldest waiting item may wait for company before a partial batch runs. 0 = run at once. */
  maxWaitMs: number;
  /**
   * Errors that belong to one input rather than the whole run: when a batch fails with one, its
   * items are retried one by one so the others still get results.
   */
  isItemError?(e: unknown): boolean;
  /**
   * Items on their way (admitted upstream, still being received or decoded). While there are
   * none, waiting cannot fill the batch, so a partial batch runs at once: a lone request pays no
   * window. Default: always assume company may come.
   */
  upstream?(): number;
  /** Called after every run with its size and duration. */
  onBatch?(size: number, ms: number, failed: boolean): void;
}

export class MicroBatcher<In, Out> {
  private queue: Job<In, Out>[] = [];
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private flushing = false;

  constructor(private readonly opts: MicroBatcherOptions<In, Out>) {
    if (!Number.isInteger(opts.maxBatch) || opts.maxBatch < 1) throw new RangeError(`maxBatch must be a positive integer; got ${opts.maxBatch}`);
    if (!(opts.maxWaitMs >= 0)) throw new RangeError(`maxWaitMs must be ≥ 0; got ${opts.maxWaitMs}`);
  }

  /** Items waiting for a run (not counting the run in flight). */
  get depth(): number {
    return this.queue.length;
  }

  /** Queues one input. `signal` aborting removes it from the queue, or abandons its result if it is already running. */
  submit(input: In, signal?: AbortSignal): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      const job: Job<In, Out> = { input, enqueuedAt: performance.now(), resolve, reject, done: false };
      if (signal) {
        if (signal.aborted) return reject(new CancelledError('cancelled before queueing'));
        signal.addEventListener('abort', () => this.cancel(job), { once: true });
      }
      this.queue.push(job);
      this.schedule();
    });
  }

  /** Runs whatever is queued without waiting for the window, now and from now on (shutdown). */
  flush(): void {
    this.flushing = true;
    this.schedule();
  }

  /** Re-checks whether to run now (call when upstream work finishes without submitting). */
  poke(): void {
    this.schedule();
  }

  /** Resolves when nothing is queued or running. */
  async idle(): Promise<void> {
    while (this.running || this.queue.length > 0) {
      this.schedule();
      await (this.running ?? new Promise((r) => setImmediate(r)));
    }
  }

  private cancel(job: Job<In, Out>): void {
    if (job.done) return;
    job.done = true;
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
    job.reject(new CancelledError('cancelled'));
  }

  private schedule(): void {
    if (this.running || this.queue.length === 0) return;
    const waited = performance.now() - this.queue[0]!.enqueuedAt;
    const alone = this.opts.upstream !== undefined && this.opts.upstream() === 0;
    if (this.flushing || alone || this.queue.length >= this.opts.maxBatch || waited >= this.opts.maxWaitMs) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.running = this.runBatch(this.queue.splice(0, this.opts.maxBatch)).finally(() => {
        this.running = null;
        this.schedule();
      });
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = null;
        this.schedule();
      }, Math.max(0, this.opts.maxWaitMs - waited));
    }
  }

  private async runBatch(jobs: Job<In, Out>[]): Promise<void> {
    const t0 = performance.now();
    try {
      const outs = await this.opts.run(jobs.map((j) => j.input));
      this.opts.onBatch?.(jobs.length, performance.now() - t0, false);
      jobs.forEach((j, i) => settle(j, outs[i]!));
    } catch (e) {
      this.opts.onBatch?.(jobs.length, performance.now() - t0, true);
      if (jobs.length > 1 && this.opts.isItemError?.(e)) {
        for (const j of jobs) {
          if (j.done) continue;
          const t1 = performance.now();
          try {
            const [out] = await this.opts.run([j.input]);
            this.opts.onBatch?.(1, performance.now() - t1, false);
            settle(j, out!);
          } catch (e1) {
            this.opts.onBatch?.(1, performance.now() - t1, true);
            fail(j, e1);
          }
        }
      } else for (const j of jobs) fail(j, e);
    }
  }
}

function settle<In, Out>(j: Job<In, Out>, out: Out): void {
  if (j.done) return;
  j.done = true;
  j.resolve(out);
}

function fail<In, Out>(j: Job<In, Out>, e: unknown): void {
  if (j.done) return;
  j.done = true;
  j.reject(e);
}
