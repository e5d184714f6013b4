// `ganomaly serve` as a library call: an HTTP gateway in front of one detector. node:http only.
// Routing, admission (the bounded queue), error responses, metrics, access logs and graceful
// shutdown live here; the scoring endpoints are in scoring.ts.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { availableParallelism } from 'node:os';
import type { AddressInfo, Socket } from 'node:net';
import {
  ChannelMismatchError,
  createDetector,
  DisposedError,
  ImageDecodeError,
  InvalidImageError,
  loadSharp,
  NonFiniteScoreError,
  type ExecutionProvider,
  type NodeDetector,
  type ScoreResult,
} from '@ganomaly-edge/runtime/node';
import type { Precision } from '../types.js';
import { CancelledError, MicroBatcher } from './batcher.js';
import { ByteBudget } from './budget.js';
import { DecodePool } from './decode-pool.js';
import { startHealthListener, type HealthListener } from './health-listener.js';
import { errorBody, HttpError } from './errors.js';
import { silentLog, type LogSink } from './logging.js';
import { batchBuckets, Counter, Gauge, Histogram, LATENCY_BUCKETS_S, PROMETHEUS_CONTENT_TYPE, Registry } from './metrics.js';
import { scoreBatch, scoreOne, type RequestInfo, type ScoreItem, type ScoringContext } from './scoring.js';

export interface ServeOptions {
  /** Model folder (manifest.json + detector.onnx), or an http(s) URL to one. */
  model: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1 (local only); '0.0.0.0' to listen on every interface. */
  host?: string;
  /**
   * A second port, on the same host, that serves only /healthz and /readyz, from a thread of its
   * own: probes there are answered within milliseconds under any load, where on the main port
   * they queue behind a burst of new connections. /healthz there still turns 503 if the server's
   * main thread stops running for 10 s. 0 picks a free port. Default: none.
   */
  healthPort?: number;
  /** Execution providers tried in order. Default: the runtime's (cuda, cpu). */
  providers?: readonly ExecutionProvider[];
  /** Most images per ONNX Runtime run. Default 32. */
  maxBatch?: number;
  /** How long a request may wait for others to share its run. Default 2 ms. */
  maxWaitMs?: number;
  /** Most images admitted at once (being received, decoded, waiting or scored); past it 503. Default 8 × maxBatch. */
  maxQueue?: number;
  /** Largest request body in bytes. Default 10 MiB. */
  maxBodyBytes?: number;
  /** Time allowed to receive a request body. Default 30 s; past it 408. */
  bodyTimeoutMs?: number;
  /** Time allowed to decode and score once the body is in. Default 30 s; past it 504. */
  timeoutMs?: number;
  /** Largest decoded image (width × height); bigger images (decompression bombs) get 400. Default 25 megapixels. */
  limitInputPixels?: number;
  /**
   * Most bytes of decoded pixels held at once, over all requests (read from each image's header
   * before it is decoded). Images wait for room, in arrival order, up to decodeWaitMs (then 503);
   * one image bigger than this gets 413. Default 256 MiB.
   */
  maxDecodedBytes?: number;
  /** Longest wait for decode room before a 503. Default 10 s (at most timeoutMs). */
  decodeWaitMs?: number;
  /**
   * Decode worker threads, each decoding one image at a time (pixels stay in the worker; only the
   * model input comes back). Default: CPU count − 1, at least 1 and at most 4: decoding leaves a
   * core for the event loop, and sharp's work for every worker runs on libuv's one pool (4 threads
   * unless UV_THREADPOOL_SIZE says otherwise), so more workers would only add ~16 MiB each.
   */
  maxConcurrentDecodes?: number;
  /** Raw-score threshold; default the manifest's. */
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
  /** Heatmap side in pixels. Default 256. */
  heatmapSize?: number;
  /** Receives one structured entry per request and per lifecycle event (see logging.ts jsonLines). Default: none. */
  log?: LogSink | null;
}

export interface RunningServer {
  /** http://host:port, without a trailing slash. */
  url: string;
  port: number;
  /** The health port's http://host:port, when healthPort was given. */
  healthUrl?: string;
  detector: NodeDetector;
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

/** Default decode workers at most: libuv's default thread pool size, which runs sharp's work for all of them. */
const MAX_DEFAULT_DECODE_WORKERS = 4;

const ROUTES = ['/healthz', '/readyz', '/metrics', '/v1/model', '/v1/score', '/v1/score:batch'] as const;
const METHODS: Record<(typeof ROUTES)[number], string> = {
  '/healthz': 'GET', '/readyz': 'GET', '/metrics': 'GET', '/v1/model': 'GET', '/v1/score': 'POST', '/v1/score:batch': 'POST',
};

function positiveInt(v: number, name: string, min = 1): number {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${name} must be an integer ≥ ${min}; got ${v}`);
  return v;
}

const isItemError = (e: unknown) => e instanceof ImageDecodeError || e instanceof InvalidImageError || e instanceof ChannelMismatchError;

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const o = { ...SERVE_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as ServeOptions & typeof SERVE_DEFAULTS;
  positiveInt(o.maxBatch, 'maxBatch');
  positiveInt(o.maxBodyBytes, 'maxBodyBytes');
  positiveInt(o.bodyTimeoutMs, 'bodyTimeoutMs');
  positiveInt(o.timeoutMs, 'timeoutMs');
  positiveInt(o.limitInputPixels, 'limitInputPixels');
  positiveInt(o.maxDecodedBytes, 'maxDecodedBytes');
  positiveInt(o.decodeWaitMs, 'decodeWaitMs');
  positiveInt(o.heatmapSize, 'heatmapSize');
  positiveInt(o.port, 'port', 0);
  if (o.healthPort !== undefined) positiveInt(o.healthPort, 'healthPort', 0);
  const decodeWorkers = positiveInt(o.maxConcurrentDecodes ?? Math.min(MAX_DEFAULT_DECODE_WORKERS, Math.max(1, availableParallelism() - 1)), 'maxConcurrentDecodes');
  if (!(o.maxWaitMs >= 0 && Number.isFinite(o.maxWaitMs))) throw new RangeError(`maxWaitMs must be a number ≥ 0; got ${o.maxWaitMs}`);
  const log = o.log ?? silentLog;

  const detector = await createDetector({
    model: o.model,
    executionProviders: o.providers,
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
      limitInputPixels: o.limitInputPixels,
      preprocessing: detector.manifest.preprocessing,
    });
  } catch (e) {
    await detector.dispose();
    throw e;
  }
  /** The decode workers, then the model (and its session worker): what a failed start or a close gives back. */
  const releaseWorkers = async () => {
    await decoder.close();
    await detector.dispose();
  };
  const maxBatch = detector.maxBatch; // a fixed-batch graph decides
  const maxQueue = positiveInt(o.maxQueue ?? 8 * maxBatch, 'maxQueue');
  const modelName = detector.manifest.name;
  const budget = new ByteBudget(o.maxDecodedBytes, Math.min(o.decodeWaitMs, o.timeoutMs));

  const registry = new Registry();
  const requests = registry.add(new Counter('ganomaly_http_requests_total', 'HTTP requests answered, by route and status code.'));
  const latency = registry.add(new Histogram('ganomaly_http_request_duration_seconds', 'Time from request start to response end.', LATENCY_BUCKETS_S));
  const batchSize = registry.add(new Histogram('ganomaly_batch_size', 'Images per ONNX Runtime run.', batchBuckets(maxBatch)));
  const batchTime = registry.add(new Histogram('ganomaly_batch_duration_seconds', 'Duration of one ONNX Runtime run, preprocessing included.', LATENCY_BUCKETS_S));
  const scored = registry.add(new Counter('ganomaly_images_scored_total', 'Images scored, by verdict.'));

  let admitted = 0;
  /** Admitted images not yet handed to the batcher (being received or decoded). */
  let upstream = 0;
  let active = 0;
  let draining = false;
  let onIdle: (() => void) | null = null;
  /** Responses not yet finished: when shutdown starts they are told to close their connection. */
  const inFlight = new Set<ServerResponse>();

  const batcher = new MicroBatcher<ScoreItem, ScoreResult>({
    maxBatch,
    maxWaitMs: o.maxWaitMs,
    isItemError,
    upstream: () => upstream,
    run: (items) => detector.scorePreprocessed(items.map((i) => i.input), { outputs: items.some((i) => i.map) ? ['anomalyMap'] : [] }),
    onBatch(size, ms) {
      batchSize.observe(size);
      batchTime.observe(ms / 1000);
    },
  });

  registry.add(new Gauge('ganomaly_queue_depth', 'Images waiting for an ONNX Runtime run.', () => [{ value: batcher.depth }]));
  registry.add(new Gauge('ganomaly_admitted_images', `Images admitted and not yet answered (503 past ${maxQueue}).`, () => [{ value: admitted }]));
  registry.add(new Gauge('ganomaly_arriving_images', 'Admitted images still being received or decoded.', () => [{ value: upstream }]));
  registry.add(new Gauge('ganomaly_decoded_bytes', `Bytes of decoded pixels reserved (budget ${o.maxDecodedBytes}).`, () => [{ value: budget.inUse }]));
  registry.add(new Gauge('ganomaly_decode_waiting_images', 'Images waiting for room in the decode budget.', () => [{ value: budget.waiting }]));
  registry.add(new Gauge('ganomaly_model_info', 'The loaded model, its precision and its execution provider.', () => [{ labels: { model: modelName, provider: detector.provider, precision: detector.precision }, value: 1 }]));
  registry.add(new Gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => [{ value: process.memoryUsage.rss() }]));
  registry.add(new Gauge('nodejs_heap_used_bytes', 'V8 heap in use, in bytes.', () => [{ value: process.memoryUsage().heapUsed }]));

  const ctx: ScoringContext = {
    modelName,
    maxBodyBytes: o.maxBodyBytes,
    bodyTimeoutMs: o.bodyTimeoutMs,
    timeoutMs: o.timeoutMs,
    limitInputPixels: o.limitInputPixels,
    heatmapSize: o.heatmapSize,
    maxImages: maxQueue,
    budget,
    preprocessing: detector.manifest.preprocessing,
    decoder,
  };
  interface Held {
    /** Images admitted for this request. */
    n: number;
    /** Of those, images handed to the batcher. */
    submitted: number;
    /** The body is arriving (counted in upstream, not admitted). */
    receiving: boolean;
    /** The body began arriving before shutdown began: it is still served. */
    beforeDrain: boolean;
  }

  async function submit(held: Held, item: ScoreItem, signal: AbortSignal): Promise<ScoreResult> {
    // Decoding can finish after a 504 or a departed client has closed the request's accounts.
    if (signal.aborted) throw new CancelledError('the request ended before its image was queued');
    held.submitted++;
    upstream--;
    const r = await batcher.submit(item, signal);
    scored.inc({ verdict: r.isAnomaly ? 'anomaly' : 'normal' });
    return r;
  }

  /** Reserves queue room for a request; what it took is given back when its response closes. */
  function admitter(held: Held) {
    return (n: number) => {
      // A request admitted before shutdown began may still grow (a batch, once parsed).
      if (draining && held.n === 0 && !held.beforeDrain) throw new HttpError(503, 'shutting_down', 'the server is shutting down', { 'retry-after': '1' });
      if (admitted + n > maxQueue) {
        throw new HttpError(503, 'queue_full', `the server is at capacity (${maxQueue} images admitted); retry later`, { 'retry-after': '1' });
      }
      admitted += n;
      upstream += n;
      held.n += n;
    };
  }

  /** A body starts arriving (company on its way for the batcher) or stops. */
  function arriving(held: Held) {
    return (on: boolean) => {
      if (on === held.receiving) return;
      held.receiving = on;
      if (on) {
        held.beforeDrain = !draining;
        upstream++;
      } else {
        upstream--;
        batcher.poke();
      }
    };
  }

  function sendError(res: ServerResponse, e: unknown, info: { code?: string; message?: string }): void {
    let err: HttpError;
    if (e instanceof HttpError) err = e;
    else if (e instanceof DisposedError) err = new HttpError(503, 'shutting_down', 'the server is shutting down');
    else if (isItemError(e)) err = new HttpError(400, 'undecodable_image', (e as Error).message);
    else if (e instanceof NonFiniteScoreError) err = new HttpError(500, 'non_finite_score', e.message);
    else err = new HttpError(500, 'internal', e instanceof Error ? e.message : String(e));
    info.code = err.code;
    if (err.status >= 500 && err.code === 'internal') info.message = err.message;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = errorBody(err.code, err.message);
    const headers: Record<string, string | number> = { ...err.headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) };
    if (err.closeConnection) headers.connection = 'close';
    res.writeHead(err.status, headers);
    res.end(body);
  }

  function sendJson(res: ServerResponse, status: number, body: unknown, type = 'application/json; charset=utf-8'): void {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  async function dispatch(req: IncomingMessage, res: ServerResponse, expectContinue: boolean): Promise<void> {
    const t0 = performance.now();
    const rawId = req.headers['x-request-id'];
    const id = typeof rawId === 'string' && /^[\w.:-]{1,128}$/.test(rawId) ? rawId : randomUUID();
    const info: RequestInfo & { code?: string; message?: string } = { images: 0, bytesIn: 0 };
    const held: Held = { n: 0, submitted: 0, receiving: false, beforeDrain: false };
    const clientGone = new AbortController();
    let route = 'other';
    active++;
    res.setHeader('x-request-id', id);
    if (draining) res.setHeader('connection', 'close');
    inFlight.add(res);
    res.on('close', () => {
      inFlight.delete(res);
      if (!res.writableFinished) clientGone.abort(); // its queued images are dropped
      admitted -= held.n;
      if (held.receiving) {
        held.receiving = false;
        upstream--;
        batcher.poke();
      }
      if (held.submitted < held.n) {
        upstream -= held.n - held.submitted; // never reached the batcher (bad image, 413, …)
        batcher.poke();
      }
      active--;
      const seconds = (performance.now() - t0) / 1000;
      const status = res.writableFinished ? res.statusCode : 499; // 499: the client went away first
      requests.inc({ route, status: String(status) });
      latency.observe(seconds, { route });
      log({
        msg: 'request', id, method: req.method, route, status, ms: Math.round(seconds * 1e5) / 100,
        images: info.images, bytesIn: info.bytesIn, remote: req.socket.remoteAddress,
        ...(info.code ? { code: info.code } : {}), ...(info.message ? { error: info.message } : {}),
      });
      if (active === 0) onIdle?.();
    });
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://localhost');
      } catch {
        throw new HttpError(400, 'bad_url', 'the request target is not a valid URL');
      }
      const path = url.pathname as (typeof ROUTES)[number];
      if (!ROUTES.includes(path)) throw new HttpError(404, 'not_found', `no route ${url.pathname}; routes: ${ROUTES.join(', ')}`);
      route = path;
      const method = METHODS[path];
      if (req.method !== method && !(method === 'GET' && req.method === 'HEAD')) {
        throw new HttpError(405, 'method_not_allowed', `${path} takes ${method}`, { allow: method === 'GET' ? 'GET, HEAD' : method });
      }
      switch (path) {
        case '/healthz':
          return sendJson(res, 200, { status: 'ok' });
        case '/readyz':
          if (draining) throw new HttpError(503, 'shutting_down', 'the server is shutting down');
          return sendJson(res, 200, { status: 'ready', model: modelName, provider: detector.provider, precision: detector.precision });
        case '/metrics':
          return sendJson(res, 200, registry.render(), PROMETHEUS_CONTENT_TYPE);
        case '/v1/model':
          return sendJson(res, 200, { manifest: detector.manifest, provider: detector.provider, precision: detector.precision, threshold: detector.threshold, maxBatch, maxQueue });
        case '/v1/score':
        case '/v1/score:batch':
          return await (path === '/v1/score' ? scoreOne : scoreBatch)(req, res, ctx, {
            url, expectContinue, info, t0, clientGone: clientGone.signal, admit: admitter(held), arriving: arriving(held), submit: (item, signal) => submit(held, item, signal),
          });
      }
    } catch (e) {
      sendError(res, e, info);
    }
  }

  const server = createServer({ keepAlive: true });
  const handle = (expectContinue: boolean) => (req: IncomingMessage, res: ServerResponse) => {
    dispatch(req, res, expectContinue).catch((e: unknown) => {
      log({ msg: 'handler crashed', level: 'error', error: e instanceof Error ? e.stack : String(e) });
      res.destroy();
    });
  };
  server.on('request', handle(false));
  server.on('checkContinue', handle(true));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const [status, text] = err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout'] : [400, 'Bad Request'];
    const body = errorBody(status === 400 ? 'bad_request' : status === 408 ? 'request_timeout' : 'headers_too_large', `malformed HTTP request (${err.code ?? err.message})`);
    socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  // Node's own whole-request timer must not fire before ours (which answers in JSON).
  server.requestTimeout = Math.max(server.requestTimeout, o.bodyTimeoutMs + 10_000);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (e: unknown) => {
    await releaseWorkers();
    throw e;
  });
  const { port } = server.address() as AddressInfo;
  const origin = (p: number) => `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${p}`;
  const url = origin(port);
  let health: HealthListener | undefined;
  if (o.healthPort !== undefined) {
    try {
      health = await startHealthListener(o.host, o.healthPort);
    } catch (e) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await releaseWorkers();
      throw e;
    }
    health.setState('ready');
  }
  const healthUrl = health ? origin(health.port) : undefined;
  log({ msg: 'listening', url, ...(healthUrl ? { healthUrl } : {}), model: modelName, provider: detector.provider, maxBatch, maxWaitMs: o.maxWaitMs, maxQueue });

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      draining = true;
      health?.setState('draining');
      log({ msg: 'draining', active, admitted });
      // Keep-alive clients learn from the answer itself that this connection ends (no reset).
      for (const res of inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      batcher.flush(); // nothing accepted waits for a wait window any more
      if (active > 0) await new Promise<void>((resolve) => (onIdle = resolve));
      server.closeAllConnections();
      await closed;
      await batcher.idle();
      await releaseWorkers();
      await health?.close();
      log({ msg: 'closed' });
    })());

  return { url, port, ...(healthUrl ? { healthUrl } : {}), detector, close };
}
