// `ganomaly serve` as a library call: an HTTP gateway in front of one detector. node:http only.
// Here: the options, their checks and the wiring of the parts: admission (admission.ts), the
// micro-batcher (batcher.ts), the decode workers (decode-pool.ts), metrics, routes (routes.ts)
// and the lifecycle (lifecycle.ts: listen, drain, close).
import { availableParallelism } from 'node:os';
import { createDetector, inputSize, loadSharp, type ExecutionProvider, type FrameTiles, type NodeDetector, type ScoreResult } from '@ganomaly-edge/runtime/node';
import { checkOptionalRange, checkRange, SERVE_RANGES } from '../../option-ranges.js';
import { renamedOption } from '../../renamed-option.js';
import type { Precision } from '../../types.js';
import { Admission } from './admission.js';
import { MicroBatcher } from './batcher.js';
import { ByteBudget } from './budget.js';
import { DecodePool } from './decode-pool.js';
import { listen } from './lifecycle.js';
import { silentLog, type LogSink } from './logging.js';
import { batchBuckets, Counter, Gauge, Histogram, LATENCY_BUCKETS_S, Registry } from './metrics.js';
import { probeReadiness, Readiness } from './readiness.js';
import { createRoutes, isItemError } from './routes.js';
import type { ScoreItem } from './scoring.js';

/** Every number's range is in SERVE_RANGES (option-ranges.ts); out of range is a RangeError before the model loads. */
export interface ServeOptions {
  /** Model folder (manifest.json + detector.onnx), or an http(s) URL to one. */
  model: string;
  /** Integer 0-65535. Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1 (local only); '0.0.0.0' to listen on every interface. */
  host?: string;
  /**
   * A second port, on the same host, that serves only /healthz and /readyz, from a thread of its
   * own: probes there are answered within milliseconds under any load, where on the main port
   * they queue behind a burst of new connections (p99 234-374 ms during 64 concurrent 4.6 MB
   * uploads, against 17-30 ms here). /healthz there still turns 503 if the server's main thread
   * stops running for 10 s. Integer 0-65535 (0 picks a free port), or false for none.
   * Default: on, at port + 1 (8081 with the default port; a free port when port is 0).
   */
  healthPort?: number | false;
  /** ONNX Runtime execution providers, tried in order. Default: the runtime's (cuda, cpu). */
  executionProviders?: readonly ExecutionProvider[];
  /**
   * @deprecated Renamed `executionProviders` (ONNX Runtime's name); this one is accepted until the
   * next minor version. Both given with different values is a TypeError.
   */
  providers?: readonly ExecutionProvider[];
  /** Most images per ONNX Runtime run: integer 1-4096 (a fixed-batch graph decides). Default 32. */
  maxBatch?: number;
  /** How long a request may wait for others to share its run, ms: a number 0 to 2³¹−1. Default 2. */
  maxWaitMs?: number;
  /** Most images admitted at once (being received, decoded, waiting or scored); past it 503. Integer 1-65536. Default 8 × maxBatch. */
  maxQueue?: number;
  /** Largest request body in bytes: integer, 1 B to 2 GiB. Default 10 MiB. */
  maxBodyBytes?: number;
  /** Time allowed to receive a request body, ms: integer 1 to 2³¹−1 (setTimeout's largest). Default 30 000; past it 408. */
  bodyTimeoutMs?: number;
  /**
   * Time allowed to decode and score once the body is in, ms: integer 1 to 2³¹−1. Default 30 000;
   * past it 504. Also the limit for the probe image scored at start: past it, /readyz stays 503 not_ready.
   */
  timeoutMs?: number;
  /** Largest decoded image (width × height); bigger images (decompression bombs) get 400. Integer 1 to 10⁹. Default 25 megapixels. */
  limitInputPixels?: number;
  /**
   * Most bytes decoding may hold at once, over all requests: each image reserves what decoding it
   * really takes (the runtime's decodeMemoryBytes: output, line buffers and whole-image copies, per
   * format, interlacing and orientation, read from its header before it is decoded). Images wait
   * for room, in arrival order (small ones, up to 2.1 MP, may pass bigger ones), up to decodeWaitMs
   * (then 503); one image bigger than this gets 413. Integer, 1 B to 64 GiB. Default 256 MiB.
   */
  maxDecodedBytes?: number;
  /** Longest wait for decode room before a 503, ms: integer 1 to 2³¹−1. Default 10 000 (capped at timeoutMs). */
  decodeWaitMs?: number;
  /**
   * Longest one image may take to decode, ms: integer ≥ 1. Past it the request gets 422
   * `decode_timeout` at once, and libvips is asked to stop (at the next whole second; a WebP
   * frame, decoded in one call, runs to its end). The image's budget is held until the worker has
   * really let go of it. Default 10 000.
   */
  decodeTimeoutMs?: number;
  /**
   * Decode worker threads, each decoding one image at a time (pixels stay in the worker; only the
   * model input comes back). Integer 1-64. Default: CPU count − 1, at least 1 and at most 3:
   * decoding leaves a core for the event loop, and sharp's work for every worker runs on libuv's
   * one pool (4 threads unless UV_THREADPOOL_SIZE says otherwise), which they share with the one
   * express worker: a thread of its own that decodes only images of at most 2.1 megapixels (a
   * 1920×1080 frame), so a flood of images that are cheap to send and slow to decode (a 40-byte
   * WebP declaring 16383×1525 pixels) never queues the small ones behind them.
   */
  decodeConcurrency?: number;
  /**
   * @deprecated Renamed `decodeConcurrency` (as in the runtime's DetectorOptions); this one is
   * accepted until the next minor version. Both given with different values is a TypeError.
   */
  maxConcurrentDecodes?: number;
  /** Raw-score threshold: a finite number. Default: the manifest's. */
  threshold?: number;
  /** Check detector.onnx against the manifest's sha256. Default true. */
  verifyIntegrity?: boolean;
  /** Detector precision: fp32 (default), fp16 or int8 (the model's variant, with its own threshold). */
  precision?: Precision;
  /**
   * onnxruntime-node session options (intraOpNumThreads, …). By default ORT's thread pools do not
   * spin between runs (see serveSessionOptions); pass extra.session.intra_op.allow_spinning '1' to
   * let them.
   */
  sessionOptions?: Record<string, unknown>;
  /**
   * Run the ONNX Runtime session in a worker thread, so health checks, metrics and 503s are
   * answered while a batch is being scored. Default true; false runs it in the main thread.
   */
  sessionInWorker?: boolean;
  /** Heatmap side in pixels: integer 1-4096. Default 256. */
  heatmapSize?: number;
  /** Receives one structured entry per request and per lifecycle event (see logging.ts jsonLines). Default: none. */
  log?: LogSink | null;
}

export interface RunningServer {
  /** http://host:port, without a trailing slash. */
  url: string;
  port: number;
  /** The health port's http://host:port; absent when healthPort is false. */
  healthUrl?: string;
  detector: NodeDetector;
  /**
   * Why /readyz answers 503 not_ready: the probe image scored at start took longer than timeoutMs
   * or failed. Absent when the server is ready.
   */
  notReady?: string;
  /** Stops accepting, answers every accepted request, then releases the model. Idempotent. */
  close(): Promise<void>;
}

export const SERVE_DEFAULTS = {
  port: 8080,
  host: '127.0.0.1',
  maxBatch: 32,
  maxWaitMs: 2,
  maxBodyBytes: 10 * 1024 * 1024,
  bodyTimeoutMs: 30_000,
  timeoutMs: 30_000,
  limitInputPixels: 25_000_000,
  maxDecodedBytes: 256 * 1024 * 1024,
  decodeWaitMs: 10_000,
  decodeTimeoutMs: 10_000,
  heatmapSize: 256,
  sessionInWorker: true,
} as const;

/**
 * The session options serve runs with: ORT's intra- and inter-op threads sleep between runs
 * instead of spinning. Spinning buys a little latency back to back, but a server shares its cores
 * with the event loop, the decoders and its clients, and spinning threads take CPU from all of
 * them (on 2 cores the /healthz-under-flood measurements were too noisy to show a difference
 * either way: bench/serve-load.ts hostile). The caller's entries win.
 */
export function serveSessionOptions(user: Record<string, unknown> = {}): Record<string, unknown> {
  const extra = (user.extra ?? {}) as { session?: Record<string, unknown> };
  const session = extra.session ?? {};
  const pool = (k: string) => ({ allow_spinning: '0', ...(session[k] as Record<string, unknown> | undefined) });
  return { ...user, extra: { ...extra, session: { ...session, intra_op: pool('intra_op'), inter_op: pool('inter_op') } } };
}

/** Default decode workers at most: libuv's default thread pool (4), which runs sharp's work for all of them, less the express worker's. */
const MAX_DEFAULT_DECODE_WORKERS = 3;
/** Express decode workers: small images only (see decodeConcurrency). */
const EXPRESS_DECODE_WORKERS = 1;

/** The health port serve opens: `healthPort` as given, none for false, else port + 1 (0 stays 0: any free port). */
export function resolveHealthPort(port: number, healthPort: number | false | undefined): number | undefined {
  if (healthPort === false) return undefined;
  if (healthPort !== undefined) {
    if (typeof healthPort !== 'number') throw new TypeError(`healthPort must be a port number or false; got ${typeof healthPort}`);
    return checkRange(SERVE_RANGES.healthPort, healthPort, 'healthPort');
  }
  if (port === 0) return 0;
  if (port === 65535) throw new RangeError('healthPort defaults to port + 1, and port is 65535: give healthPort (0 = any free port) or healthPort: false');
  return port + 1;
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const o = { ...SERVE_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as ServeOptions & typeof SERVE_DEFAULTS;
  const executionProviders = renamedOption(o.executionProviders, o.providers, 'executionProviders', 'providers');
  const decodeConcurrency = renamedOption(o.decodeConcurrency, o.maxConcurrentDecodes, 'decodeConcurrency', 'maxConcurrentDecodes');
  // Every number against its range in the table (option-ranges.ts), before the model loads.
  const R = SERVE_RANGES;
  for (const key of ['port', 'maxBatch', 'maxWaitMs', 'maxBodyBytes', 'bodyTimeoutMs', 'timeoutMs', 'limitInputPixels', 'maxDecodedBytes', 'decodeWaitMs', 'decodeTimeoutMs', 'heatmapSize'] as const) {
    checkRange(R[key], o[key], key);
  }
  checkOptionalRange(R.maxQueue, o.maxQueue, 'maxQueue');
  checkOptionalRange(R.threshold, o.threshold, 'threshold');
  checkOptionalRange(R.threads, o.sessionOptions?.intraOpNumThreads, 'sessionOptions.intraOpNumThreads');
  const healthPort = resolveHealthPort(o.port, o.healthPort);
  const decodeWorkers = checkRange(R.decodeConcurrency, decodeConcurrency ?? Math.min(MAX_DEFAULT_DECODE_WORKERS, Math.max(1, availableParallelism() - 1)), 'decodeConcurrency');
  const log = o.log ?? silentLog;

  const detector = await createDetector({
    model: o.model,
    executionProviders,
    maxBatch: o.maxBatch,
    threshold: o.threshold,
    verifyIntegrity: o.verifyIntegrity,
    precision: o.precision,
    limitInputPixels: o.limitInputPixels,
    sessionOptions: serveSessionOptions(o.sessionOptions),
    sessionInWorker: o.sessionInWorker,
    logger: { warn: (message) => log({ msg: 'provider skipped', level: 'warn', detail: message }) },
  });
  // Load sharp now: its first import loads libvips synchronously (hundreds of ms), which would
  // otherwise stall the event loop (and /healthz) under the first burst of uploads.
  await loadSharp().catch(() => undefined); // without sharp only raw pixels are served
  let decoder: DecodePool;
  try {
    decoder = await DecodePool.start({
      workers: decodeWorkers,
      expressWorkers: EXPRESS_DECODE_WORKERS,
      timeoutMs: o.decodeTimeoutMs,
      limitInputPixels: o.limitInputPixels,
      preprocessing: detector.manifest.preprocessing,
      tiling: detector.tiling,
    });
  } catch (e) {
    await detector.dispose();
    throw e;
  }
  const releaseWorkers = async () => {
    await decoder.close();
    await detector.dispose();
  };
  const maxBatch = detector.maxBatch; // a fixed-batch graph decides
  // Whole-image inputs of a micro-batch share one ONNX Runtime run; a patch model's frames each
  // score their tiles, and the detector packs the tiles of concurrent frames into shared runs.
  const runItems = (items: ScoreItem[]): Promise<ScoreResult[]> => {
    if (!detector.tiling) return detector.scorePreprocessed(items.map((i) => i.input as Float32Array), { outputs: items.some((i) => i.map) ? ['anomalyMap'] : [] });
    return Promise.all(items.map((i) => detector.scoreTiles(i.input as FrameTiles, { outputs: i.map ? ['anomalyMap'] : [] })));
  };
  const maxQueue = o.maxQueue ?? 8 * maxBatch;
  const modelName = detector.manifest.name;
  const budget = new ByteBudget(o.maxDecodedBytes, Math.min(o.decodeWaitMs, o.timeoutMs));
  const admission: Admission = new Admission(maxQueue, () => batcher.poke());

  const registry = new Registry();
  const requests = registry.add(new Counter('ganomaly_http_requests_total', 'HTTP requests answered, by route and status code.'));
  const latency = registry.add(new Histogram('ganomaly_http_request_duration_seconds', 'Time from request start to response end.', LATENCY_BUCKETS_S));
  const batchSize = registry.add(new Histogram('ganomaly_batch_size', 'Images per ONNX Runtime run.', batchBuckets(maxBatch)));
  const batchTime = registry.add(new Histogram('ganomaly_batch_duration_seconds', 'Duration of one ONNX Runtime run, preprocessing included.', LATENCY_BUCKETS_S));
  const scored = registry.add(new Counter('ganomaly_images_scored_total', 'Images scored, by verdict.'));

  const batcher: MicroBatcher<ScoreItem, ScoreResult> = new MicroBatcher<ScoreItem, ScoreResult>({
    maxBatch,
    maxWaitMs: o.maxWaitMs,
    isItemError,
    upstream: () => admission.upstream,
    run: (items) => runItems(items),
    onBatch(size, ms) {
      batchSize.observe(size);
      batchTime.observe(ms / 1000);
    },
  });

  registry.add(new Gauge('ganomaly_queue_depth', 'Images waiting for an ONNX Runtime run.', () => [{ value: batcher.depth }]));
  registry.add(new Gauge('ganomaly_admitted_images', `Images admitted and not yet answered (503 past ${maxQueue}).`, () => [{ value: admission.admitted }]));
  registry.add(new Gauge('ganomaly_arriving_images', 'Admitted images still being received or decoded.', () => [{ value: admission.upstream }]));
  registry.add(new Gauge('ganomaly_decoded_bytes', `Bytes of decoded pixels reserved (budget ${o.maxDecodedBytes}).`, () => [{ value: budget.inUse }]));
  registry.add(new Gauge('ganomaly_decode_waiting_images', 'Images waiting for room in the decode budget.', () => [{ value: budget.waiting }]));
  registry.add(new Gauge('ganomaly_model_info', 'The loaded model, its precision and its execution provider.', () => [{ labels: { model: modelName, provider: detector.provider, precision: detector.precision }, value: 1 }]));
  registry.add(new Gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => [{ value: process.memoryUsage.rss() }]));
  registry.add(new Gauge('nodejs_heap_used_bytes', 'V8 heap in use, in bytes.', () => [{ value: process.memoryUsage().heapUsed }]));

  const readiness = new Readiness();
  const routes = createRoutes({
    detector, admission, batcher, registry, requests, latency, scored, log, readiness,
    scoring: {
      modelName,
      maxBodyBytes: o.maxBodyBytes,
      bodyTimeoutMs: o.bodyTimeoutMs,
      timeoutMs: o.timeoutMs,
      limitInputPixels: o.limitInputPixels,
      heatmapSize: o.heatmapSize,
      maxImages: maxQueue,
      budget,
      preprocessing: detector.manifest.preprocessing,
      tiling: detector.tiling,
      decoder,
    },
  });
  const running = await listen({
    port: o.port, host: o.host, healthPort, bodyTimeoutMs: o.bodyTimeoutMs, admission, batcher, routes, readiness, releaseWorkers, log,
  });
  // Listening (health checks answered, /readyz 'starting') while one probe image is scored.
  // A patch model with a fixed frame is probed with a whole (blank) frame: that is what a request costs.
  const frame = detector.tiling?.frame;
  const probe = frame && frame !== 'any'
    ? () => detector.score({ data: new Uint8Array(frame.width * frame.height), width: frame.width, height: frame.height, channels: 1 })
    : () => detector.scorePreprocessed(new Float32Array(inputSize(detector.manifest.preprocessing)));
  const notReady = await probeReadiness(probe, o.timeoutMs);
  readiness.set(notReady === null ? 'ready' : 'not_ready', notReady ?? undefined);
  if (notReady !== null) log({ msg: 'not ready', level: 'warn', reason: notReady });
  log({ msg: 'listening', ready: notReady === null, url: running.url, ...(running.healthUrl ? { healthUrl: running.healthUrl } : {}), model: modelName, provider: detector.provider, maxBatch, maxWaitMs: o.maxWaitMs, maxQueue });
  return { ...running, detector, ...(notReady !== null ? { notReady } : {}) };
}
