// Image decoding for the server, in worker threads. A decoded upload can be a hundred megabytes
// of pixels; held in the main thread's isolate, each one is external memory that makes V8 run
// full garbage collections on the thread that answers every request (measured: a mark-compact
// every ~90 ms, ~300 ms of main-thread GC in a 1.7 s flood of 4900×4900 uploads).
// Here a worker decodes and preprocesses, and only the model input (a few KB) comes back.
//
// What an image costs to decode is its declared pixels, not its bytes: a 40-byte WebP can hold a
// worker for seconds. So small images have a lane of their own (express workers take only images
// of at most expressMaxPixels), a client with decodes running yields to one with none, and no
// decode answers later than timeoutMs.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { GanomalyError, ImageDecodeError, type FrameTiles, type Manifest } from '@ganomaly-edge/runtime/node';
import { CancelledError } from './batcher.js';
import { DECODE_WORKER_SOURCE } from './decode-worker-source.js';
import { rebuildError, WorkerChannel, type WorkerErrorReport, type WorkerReply } from '../../workers/request-reply.js';

export interface DecodePoolOptions {
  /** Worker threads, each decoding one image at a time, any size. */
  workers: number;
  /** More worker threads that take only images of at most expressMaxPixels. Default 0. */
  expressWorkers?: number;
  /** Largest image (width × height, as declared) the express workers take. Default 2 megapixels. */
  expressMaxPixels?: number;
  /** Longest a decode may take before its caller gets a DecodeTimeoutError. Default: none. */
  timeoutMs?: number;
  /** Largest decoded image (width × height); sharp refuses bigger ones. */
  limitInputPixels: number;
  preprocessing: Manifest['preprocessing'];
  /** Patch models: workers cut each frame into the model's tiles. */
  tiling?: Manifest['tiling'];
}

/** What a decode produces: one model input, or a patch model's frame cut into tiles. */
export type ModelInput = Float32Array | FrameTiles;

/** How the caller describes an image to decode. */
export interface DecodeOptions {
  /** Aborting while the image still waits for a worker takes it out of the queue. */
  signal?: AbortSignal;
  /** Width × height from the image's header: small images may take the express lane. Default: unknown (general lane). */
  pixels?: number;
  /** Who sent it (a remote address): a client with decodes running yields the next free worker to one with none. */
  client?: string;
}

/**
 * A decode ran past the pool's timeoutMs: its caller is answered now, while the worker finishes
 * (or libvips gives up) in the background; `finished` settles when the worker is free again, and
 * whatever memory the decode holds is released.
 */
export class DecodeTimeoutError extends GanomalyError {
  override name = 'DecodeTimeoutError';
  readonly code = 'decode_timeout';
  constructor(readonly timeoutMs: number, readonly finished: Promise<void>) {
    super(`decoding the image took longer than ${timeoutMs} ms`);
  }
}

/** Default largest image for the express lane: a 1920×1080 frame (~2 MP) decodes in tens of ms. */
export const DEFAULT_EXPRESS_MAX_PIXELS = 2_100_000;

interface Job {
  data: Uint8Array;
  resolve(input: ModelInput): void;
  reject(e: unknown): void;
  pixels: number;
  client: string;
  signal?: AbortSignal;
  onAbort?: () => void;
}

interface Reply extends WorkerReply {
  ready?: boolean;
  input?: Float32Array;
  tiles?: Omit<FrameTiles, 'data'>;
}

/** A worker loads the runtime and sharp in ~100 ms; one that takes this long is not coming. */
const START_TIMEOUT_MS = 30_000;

let runtimeUrl: string | undefined;

/** The runtime's Node entry as a file URL, resolved from here (the built package, also under vitest). */
function resolveRuntime(): string {
  runtimeUrl ??= pathToFileURL(createRequire(import.meta.url).resolve('@ganomaly-edge/runtime/node')).href;
  return runtimeUrl;
}

/** ImageDecodeError keeps its class, so the server can tell a bad image from a broken worker. */
function rebuild(e: WorkerErrorReport): Error {
  return e.name === 'ImageDecodeError' ? new ImageDecodeError(e.message) : rebuildError(e);
}

/** One worker thread; the pool gives it one job at a time. */
class DecodeWorker {
  readonly worker: Worker;
  readonly channel: WorkerChannel<Reply>;
  readonly ready: Promise<void>;
  /** The job being decoded (its client is counted as running until the worker replies). */
  current: Job | null = null;

  constructor(
    private readonly opts: DecodePoolOptions,
    /** Takes only images of at most opts.expressMaxPixels. */
    readonly express: boolean,
    onStop: (w: DecodeWorker, e: Error) => void,
    private readonly onIdle: (w: DecodeWorker) => void,
  ) {
    const worker = (this.worker = new Worker(DECODE_WORKER_SOURCE, {
      eval: true,
      workerData: {
        runtimeUrl: resolveRuntime(), limitInputPixels: opts.limitInputPixels, preprocessing: opts.preprocessing, tiling: opts.tiling ?? null,
        // libvips stops at whole seconds; the pool answers the caller at timeoutMs itself.
        timeoutSeconds: opts.timeoutMs === undefined ? 0 : Math.ceil(opts.timeoutMs / 1000),
      },
    }));
    this.channel = new WorkerChannel<Reply>(worker, { what: 'the decode worker thread', rebuild, onDeath: (e) => onStop(this, e) });
    this.ready = new Promise<void>((resolve, reject) => {
      const first = (r: Reply) => {
        if (r.ready === undefined) return;
        worker.off('message', first);
        if (r.ready) resolve();
        else reject(new Error(`the decode worker thread could not start: ${r.error?.message ?? 'unknown error'}`));
      };
      worker.on('message', first);
      worker.once('exit', (code) => reject(new Error(`the decode worker thread exited while starting (code ${code})`)));
    });
    this.ready.catch(() => undefined);
  }

  run(job: Job): void {
    this.current = job;
    let timedOut = false;
    let freed = () => {};
    const timer = this.opts.timeoutMs === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      job.reject(new DecodeTimeoutError(this.opts.timeoutMs!, new Promise<void>((r) => (freed = r))));
    }, this.opts.timeoutMs);
    // Copied, not transferred: a multipart part is a view into the whole body.
    this.channel.request({ data: job.data }).then(
      (r) => this.finish(job, timer, timedOut ? freed : () => job.resolve(r.tiles ? { ...r.tiles, data: r.input! } : r.input!)),
      (e: unknown) => this.finish(job, timer, timedOut ? freed : () => job.reject(e)),
    );
  }

  private finish(job: Job, timer: NodeJS.Timeout | undefined, settle: () => void): void {
    clearTimeout(timer);
    if (job.onAbort) job.signal!.removeEventListener('abort', job.onAbort);
    this.current = null;
    settle();
    if (!this.channel.failure) this.onIdle(this);
  }
}

/**
 * A fixed set of decode workers with one queue. decode() resolves to the model input once a
 * worker has decoded and preprocessed the image. A free worker takes the oldest job whose client
 * has the fewest decodes running (express workers: among images of at most expressMaxPixels). A
 * job aborted while still queued leaves the queue (one already decoding finishes, and its result
 * is dropped by the caller). A worker that dies fails its job and is replaced.
 */
export class DecodePool {
  private readonly idle: DecodeWorker[] = [];
  private readonly all = new Set<DecodeWorker>();
  private readonly queue: Job[] = [];
  private closed = false;
  /** Set when every worker has died and none could be restarted. */
  private broken: Error | null = null;

  /** Largest image (width × height) the express workers take. */
  readonly expressMaxPixels: number;

  private constructor(private readonly opts: DecodePoolOptions) {
    this.expressMaxPixels = opts.expressMaxPixels ?? DEFAULT_EXPRESS_MAX_PIXELS;
  }

  /** Starts every worker; resolves once each has loaded sharp (rejects, stopping them, if one cannot). */
  static async start(opts: DecodePoolOptions): Promise<DecodePool> {
    if (!Number.isInteger(opts.workers) || opts.workers < 1) throw new RangeError(`decode workers must be an integer ≥ 1; got ${opts.workers}`);
    const express = opts.expressWorkers ?? 0;
    if (!Number.isInteger(express) || express < 0) throw new RangeError(`express decode workers must be an integer ≥ 0; got ${express}`);
    if (opts.timeoutMs !== undefined && !(Number.isInteger(opts.timeoutMs) && opts.timeoutMs >= 1)) throw new RangeError(`decode timeoutMs must be an integer ≥ 1; got ${opts.timeoutMs}`);
    const pool = new DecodePool(opts);
    const workers = [...Array.from({ length: opts.workers }, () => pool.spawn(false)), ...Array.from({ length: express }, () => pool.spawn(true))];
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the decode worker threads did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    });
    try {
      await Promise.race([Promise.all(workers.map((w) => w.ready)), late]);
    } catch (e) {
      await pool.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    pool.idle.push(...workers);
    return pool;
  }

  /** Images waiting for a worker. */
  get waiting(): number {
    return this.queue.length;
  }

  decode(data: Uint8Array, opts: DecodeOptions = {}): Promise<ModelInput> {
    const { signal } = opts;
    if (this.closed) return Promise.reject(new CancelledError('the decode pool is closed'));
    if (this.broken) return Promise.reject(this.broken);
    if (signal?.aborted) return Promise.reject(new CancelledError('the request ended before its image was decoded'));
    return new Promise<ModelInput>((resolve, reject) => {
      const job: Job = { data, resolve, reject, signal, pixels: opts.pixels ?? Infinity, client: opts.client ?? '' };
      if (signal) {
        job.onAbort = () => {
          const i = this.queue.indexOf(job);
          if (i < 0) return; // already decoding: it finishes, the caller drops the result
          this.queue.splice(i, 1);
          signal.removeEventListener('abort', job.onAbort!);
          reject(new CancelledError('the request ended before its image was decoded'));
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.queue.push(job);
      this.pump();
    });
  }

  /** Stops every worker; queued and running jobs are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new CancelledError('the decode pool is closed'));
    const workers = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    await Promise.all(workers.map((w) => w.channel.close(new CancelledError('the decode pool is closed'))));
  }

  private spawn(express: boolean): DecodeWorker {
    const w = new DecodeWorker(
      this.opts,
      express,
      (dead) => this.replace(dead),
      (free) => {
        if (!this.all.has(free)) return;
        this.idle.push(free);
        this.pump();
      },
    );
    this.all.add(w);
    return w;
  }

  private replace(dead: DecodeWorker): void {
    if (!this.all.delete(dead)) return;
    const i = this.idle.indexOf(dead);
    if (i >= 0) this.idle.splice(i, 1);
    if (this.closed) return;
    const fresh = this.spawn(dead.express);
    fresh.ready.then(
      () => {
        if (!this.all.has(fresh)) return;
        this.idle.push(fresh);
        this.pump();
      },
      (e: unknown) => {
        // A replacement that cannot even start would fail the same way again: stop trying.
        this.all.delete(fresh);
        void fresh.channel.close(e instanceof Error ? e : new Error(String(e)));
        if (this.all.size === 0) {
          this.broken = e instanceof Error ? e : new Error(String(e));
          for (const job of this.queue.splice(0)) job.reject(this.broken);
        }
      },
    );
  }

  private pump(): void {
    for (let i = 0; i < this.idle.length && this.queue.length > 0;) {
      const w = this.idle[i]!;
      const k = this.pick(w.express);
      if (k < 0) {
        i++;
        continue;
      }
      this.idle.splice(i, 1);
      w.run(this.queue.splice(k, 1)[0]!);
    }
  }

  private pick(express: boolean): number {
    const running = new Map<string, number>();
    for (const w of this.all) if (w.current) running.set(w.current.client, (running.get(w.current.client) ?? 0) + 1);
    return nextJob(this.queue, running, express ? this.expressMaxPixels : Infinity);
  }
}

/**
 * The queue index a free worker takes: among jobs of at most maxPixels (an express worker's
 * limit; Infinity for the others), the oldest one of the client with the fewest decodes running;
 * -1 when none fits.
 */
export function nextJob(queue: readonly { pixels: number; client: string }[], running: ReadonlyMap<string, number>, maxPixels: number): number {
  let best = -1;
  let bestRunning = Infinity;
  for (let k = 0; k < queue.length && bestRunning > 0; k++) {
    const job = queue[k]!;
    if (!(job.pixels <= maxPixels)) continue;
    const r = running.get(job.client) ?? 0;
    if (r < bestRunning) {
      best = k;
      bestRunning = r;
    }
  }
  return best;
}
