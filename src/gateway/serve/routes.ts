// Request handling per path: routing and method checks, the per-request error boundary (every
// error becomes a JSON answer), the access log and request metrics. Each request holds an
// admission ticket from its first byte to its response's close; the scoring endpoints themselves
// are in scoring.ts.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import {
  ChannelMismatchError,
  DisposedError,
  ImageDecodeError,
  InvalidImageError,
  NonFiniteScoreError,
  type NodeDetector,
  type ScoreResult,
} from '@ganomaly-edge/runtime/node';
import type { Admission, AdmissionTicket } from './admission.js';
import { CancelledError, type MicroBatcher } from './batcher.js';
import { errorBody, HttpError } from './errors.js';
import type { LogSink } from './logging.js';
import type { Readiness } from './readiness.js';
import { PROMETHEUS_CONTENT_TYPE, type Counter, type Histogram, type Registry } from './metrics.js';
import { scoreBatch, scoreOne, type RequestInfo, type ScoreItem, type ScoringContext } from './scoring.js';

const ROUTES = ['/healthz', '/readyz', '/metrics', '/v1/model', '/v1/score', '/v1/score:batch'] as const;
const METHODS: Record<(typeof ROUTES)[number], string> = {
  '/healthz': 'GET', '/readyz': 'GET', '/metrics': 'GET', '/v1/model': 'GET', '/v1/score': 'POST', '/v1/score:batch': 'POST',
};

/** Errors that belong to one image, not to the run it shared (the batcher retries the others alone). */
export const isItemError = (e: unknown) => e instanceof ImageDecodeError || e instanceof InvalidImageError || e instanceof ChannelMismatchError;

export interface RouteDeps {
  detector: NodeDetector;
  admission: Admission;
  batcher: MicroBatcher<ScoreItem, ScoreResult>;
  scoring: ScoringContext;
  registry: Registry;
  /** Requests answered, by route and status. */
  requests: Counter;
  /** Request start to response end, by route. */
  latency: Histogram;
  /** Images scored, by verdict. */
  scored: Counter;
  log: LogSink;
  /** Whether the probe image scored within the request timeout (readiness.ts). */
  readiness: Readiness;
}

export interface Routes {
  /** Puts the handlers on `server`: requests (with and without Expect: 100-continue) and malformed ones. */
  attach(server: Server): void;
  /** Shutdown: every response not yet started tells its keep-alive client that the connection ends. */
  closeConnectionsAfterAnswer(): void;
}

function sendJson(res: ServerResponse, status: number, body: unknown, type = 'application/json; charset=utf-8'): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
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

export function createRoutes(d: RouteDeps): Routes {
  const { detector, admission, batcher, scoring, log } = d;
  /** Responses not yet finished: when shutdown starts they are told to close their connection. */
  const inFlight = new Set<ServerResponse>();

  async function submit(ticket: AdmissionTicket, item: ScoreItem, signal: AbortSignal): Promise<ScoreResult> {
    // Decoding can finish after a 504 or a departed client has closed the request's accounts.
    if (signal.aborted) throw new CancelledError('the request ended before its image was queued');
    ticket.handedOn();
    const r = await batcher.submit(item, signal);
    d.scored.inc({ verdict: r.isAnomaly ? 'anomaly' : 'normal' });
    return r;
  }

  async function dispatch(req: IncomingMessage, res: ServerResponse, expectContinue: boolean): Promise<void> {
    const t0 = performance.now();
    const rawId = req.headers['x-request-id'];
    const id = typeof rawId === 'string' && /^[\w.:-]{1,128}$/.test(rawId) ? rawId : randomUUID();
    const info: RequestInfo & { code?: string; message?: string } = { images: 0, bytesIn: 0 };
    const ticket = admission.openRequest();
    const clientGone = new AbortController();
    let route = 'other';
    res.setHeader('x-request-id', id);
    if (admission.draining) res.setHeader('connection', 'close');
    inFlight.add(res);
    res.on('close', () => {
      inFlight.delete(res);
      if (!res.writableFinished) clientGone.abort(); // its queued images are dropped
      const seconds = (performance.now() - t0) / 1000;
      const status = res.writableFinished ? res.statusCode : 499; // 499: the client went away first
      d.requests.inc({ route, status: String(status) });
      d.latency.observe(seconds, { route });
      log({
        msg: 'request', id, method: req.method, route, status, ms: Math.round(seconds * 1e5) / 100,
        images: info.images, bytesIn: info.bytesIn, remote: req.socket.remoteAddress,
        ...(info.code ? { code: info.code } : {}), ...(info.message ? { error: info.message } : {}),
      });
      // Last: the drain waits for this, and its 'closed' line must follow this request's line.
      ticket.release();
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
          if (admission.draining) throw new HttpError(503, 'shutting_down', 'the server is shutting down');
          if (d.readiness.state !== 'ready') throw new HttpError(503, d.readiness.state, d.readiness.reason ?? 'the server is scoring its probe image');
          return sendJson(res, 200, { status: 'ready', model: scoring.modelName, provider: detector.provider, precision: detector.precision });
        case '/metrics':
          return sendJson(res, 200, d.registry.render(), PROMETHEUS_CONTENT_TYPE);
        case '/v1/model':
          return sendJson(res, 200, {
            manifest: detector.manifest, provider: detector.provider, precision: detector.precision, threshold: detector.threshold, maxBatch: detector.maxBatch, maxQueue: admission.maxQueue,
          });
        case '/v1/score':
        case '/v1/score:batch':
          return await (path === '/v1/score' ? scoreOne : scoreBatch)(req, res, scoring, {
            url, expectContinue, info, t0, client: req.socket.remoteAddress ?? '', clientGone: clientGone.signal,
            admit: (n) => ticket.admit(n), arriving: (on) => ticket.arriving(on), submit: (item, signal) => submit(ticket, item, signal),
          });
      }
    } catch (e) {
      sendError(res, e, info);
    }
  }

  /**
   * Node's parser rejected the request before any handler saw it (bad syntax 400, headers over
   * the limit 431, request timer 408): answer in JSON and close, counted and logged as any answer
   * is (route 'other': the target was never parsed).
   */
  function onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const [status, text, code] = err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large', 'headers_too_large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout', 'request_timeout'] : [400, 'Bad Request', 'bad_request'];
    const body = errorBody(code, `malformed HTTP request (${err.code ?? err.message})`);
    socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    d.requests.inc({ route: 'other', status: String(status) });
    log({ msg: 'request', id: randomUUID(), route: 'other', status, images: 0, bytesIn: 0, remote: socket.remoteAddress, code, error: err.code ?? err.message });
  }

  const handle = (expectContinue: boolean) => (req: IncomingMessage, res: ServerResponse) => {
    dispatch(req, res, expectContinue).catch((e: unknown) => {
      log({ msg: 'handler crashed', level: 'error', error: e instanceof Error ? e.stack : String(e) });
      res.destroy();
    });
  };

  return {
    attach(server) {
      server.on('request', handle(false));
      server.on('checkContinue', handle(true));
      server.on('clientError', onClientError);
    },
    closeConnectionsAfterAnswer() {
      for (const res of inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
    },
  };
}
