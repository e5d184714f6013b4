// The two scoring endpoints: POST /v1/score (one image in the body) and POST /v1/score:batch
// (multipart/form-data, one image per part). Both decode and preprocess first, then hand the
// model input to the shared micro-batcher, so concurrent requests from any client share ONNX
// Runtime runs.
import { setMaxListeners } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { renderHeatmapPng, type ScoreResult } from '@ganomaly-edge/runtime/node';
import { checkDeclaredLength, parseMediaType, parseMultipart, readBody } from './body.js';
import { HttpError } from './errors.js';
import type { ByteBudget } from './budget.js';
import { DecodeTimeoutError } from './decode-pool.js';
import { decodeCost, isSupportedImageType, toModelInput, unsupportedType, type DecodeCost, type InputContext } from './inputs.js';
import type { ModelInput } from './decode-pool.js';

export interface ScoreItem {
  /** The model input (preprocessed, CHW), or a patch model's frame cut into tiles. */
  input: ModelInput;
  /** Fetch the anomaly map for this item (heatmap requested). */
  map: boolean;
}

/** What the endpoints need from the server around them. */
export interface ScoringContext extends InputContext {
  modelName: string;
  maxBodyBytes: number;
  bodyTimeoutMs: number;
  timeoutMs: number;
  heatmapSize: number;
  /** Most images one request may carry (the queue bound). */
  maxImages: number;
  /** Decoded bytes in flight (decoding, waiting for a run, being scored). */
  budget: ByteBudget;
}

/** Per-request facts the access log and metrics report. */
export interface RequestInfo {
  images: number;
  bytesIn: number;
}

/** One request as the server hands it to an endpoint. */
export interface RequestScope {
  url: URL;
  /** The client sent `Expect: 100-continue` and waits for it before sending the body. */
  expectContinue: boolean;
  info: RequestInfo;
  /** performance.now() when the request arrived. */
  t0: number;
  /** Who sent it (the remote address): decode workers are shared out per client. */
  client: string;
  /** Reserves room for n more images for this request; throws 503 when the queue is full. */
  admit(n: number): void;
  /** The body starts / stops arriving: it counts as company on its way for the batcher, not as admitted. */
  arriving(on: boolean): void;
  /** Aborts when the response closes before it was sent (the client went away). */
  clientGone: AbortSignal;
  /** Queues one decoded image of this request for a shared run. */
  submit(item: ScoreItem, signal: AbortSignal): Promise<ScoreResult>;
}

async function receive(req: IncomingMessage, res: ServerResponse, ctx: ScoringContext, scope: RequestScope): Promise<Buffer> {
  checkDeclaredLength(req, ctx.maxBodyBytes);
  if (scope.expectContinue) res.writeContinue();
  // Admission happens once the body is complete: a slow sender holds a connection, never a slot.
  scope.arriving(true);
  try {
    const body = await readBody(req, { maxBytes: ctx.maxBodyBytes, timeoutMs: ctx.bodyTimeoutMs });
    scope.info.bytesIn = body.length;
    return body;
  } finally {
    scope.arriving(false);
  }
}

/**
 * One image from bytes to score under the decode budget: its decode cost is read from the header,
 * reserved (waiting its turn), and given back once its run is over — whatever happens; after a
 * decode timeout, once the worker has really let go of the image.
 */
async function scoreImage(
  ctx: ScoringContext, scope: RequestScope, data: Buffer, type: string, headers: Record<string, string | string[] | undefined>,
  map: boolean, signal: AbortSignal, known?: DecodeCost,
): Promise<ScoreResult> {
  const cost = known ?? (await decodeCost(data, type, headers, ctx.limitInputPixels));
  const release = await ctx.budget.acquire(cost.bytes, signal, cost.pixels <= ctx.decoder.expressMaxPixels);
  let stillDecoding: Promise<void> | undefined;
  try {
    const input = await toModelInput(data, type, headers, ctx, { signal, pixels: cost.pixels, client: scope.client });
    return await scope.submit({ input, map }, signal);
  } catch (e) {
    if (!(e instanceof DecodeTimeoutError)) throw e;
    stillDecoding = e.finished;
    throw new HttpError(422, 'decode_timeout', `${e.message} (server option --decode-timeout-ms): the image costs more to decode than this server spends on one`);
  } finally {
    if (stillDecoding) void stillDecoding.then(release);
    else release();
  }
}

/**
 * Decoding and scoring together must finish within timeoutMs, or the request gets a 504. The
 * work's signal also aborts when the client goes away, so its images leave the queue.
 */
async function withDeadline<T>(ms: number, clientGone: AbortSignal, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  setMaxListeners(0, ac.signal); // one listener per image of a batch (decode queue, budget wait)
  const onGone = () => ac.abort();
  clientGone.addEventListener('abort', onGone, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ac.abort();
      reject(new HttpError(504, 'scoring_timeout', `scoring did not finish within ${ms} ms (server option --timeout-ms)`));
    }, ms);
  });
  try {
    return await Promise.race([work(ac.signal), deadline]);
  } finally {
    clearTimeout(timer);
    clientGone.removeEventListener('abort', onGone);
  }
}

function wantsHeatmap(url: URL): boolean {
  const v = url.searchParams.get('heatmap');
  return v !== null && v !== '0' && v !== 'false';
}

/** Accept: image/png (without application/json) asks for the heatmap as the response body. */
function acceptsPngOnly(accept: string | undefined): boolean {
  if (!accept) return false;
  const types = accept.split(',').map((t) => parseMediaType(t).type);
  return types.includes('image/png') && !types.includes('application/json');
}

function summary(r: ScoreResult) {
  return { score: r.score, normalized: r.normalized, isAnomaly: r.isAnomaly, threshold: r.threshold, ...(r.worstTile ? { worstTile: r.worstTile } : {}) };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const since = (t0: number) => Math.round((performance.now() - t0) * 100) / 100;

export async function scoreOne(req: IncomingMessage, res: ServerResponse, ctx: ScoringContext, scope: RequestScope): Promise<void> {
  const { url, info, t0 } = scope;
  const type = parseMediaType(req.headers['content-type']).type;
  if (!isSupportedImageType(type)) throw unsupportedType(type, 'the request');
  const body = await receive(req, res, ctx, scope);
  scope.admit(1);
  info.images = 1;
  const png = acceptsPngOnly(req.headers.accept);
  const heatmap = png || wantsHeatmap(url);
  const result = await withDeadline(ctx.timeoutMs, scope.clientGone, (signal) => scoreImage(ctx, scope, body, type, req.headers, heatmap, signal));
  const image = heatmap ? await renderHeatmapPng(result, { size: ctx.heatmapSize }) : undefined;
  const latencyMs = since(t0);
  if (png && image) {
    res.writeHead(200, {
      'content-type': 'image/png',
      'content-length': image.length,
      'x-score': String(result.score),
      'x-normalized': String(result.normalized),
      'x-is-anomaly': String(result.isAnomaly),
      'x-threshold': String(result.threshold),
      'x-model': encodeURIComponent(ctx.modelName),
      'x-latency-ms': String(latencyMs),
    });
    res.end(image);
    return;
  }
  sendJson(res, 200, { ...summary(result), model: ctx.modelName, latencyMs, ...(image ? { heatmap: image.toString('base64') } : {}) });
}

/** Re-raises an error about one part with the part named, keeping its status and code. */
function inPart(e: unknown, i: number, name: string | undefined): unknown {
  if (!(e instanceof HttpError)) return e;
  return new HttpError(e.status, e.code, `part ${i}${name ? ` ('${name}')` : ''}: ${e.message}`, e.headers, e.closeConnection);
}

export async function scoreBatch(req: IncomingMessage, res: ServerResponse, ctx: ScoringContext, scope: RequestScope): Promise<void> {
  const { url, info, t0 } = scope;
  const media = parseMediaType(req.headers['content-type']);
  if (media.type !== 'multipart/form-data') {
    throw new HttpError(415, 'unsupported_media_type', `a batch takes multipart/form-data with one image per part; got '${media.type || '(none)'}'`);
  }
  const body = await receive(req, res, ctx, scope);
  const parts = parseMultipart(body, media.params.boundary, ctx.maxImages);
  if (parts.length === 0) throw new HttpError(400, 'no_images', 'the multipart body has no parts');
  scope.admit(parts.length);
  info.images = parts.length;
  parts.forEach((p, i) => {
    if (!isSupportedImageType(p.contentType.type)) throw inPart(unsupportedType(p.contentType.type, 'the part'), i, p.name ?? p.filename);
  });
  const heatmap = wantsHeatmap(url);
  const firstFailure = <T>(settled: PromiseSettledResult<T>[]): T[] => {
    const bad = settled.findIndex((d) => d.status === 'rejected');
    if (bad >= 0) throw inPart((settled[bad] as PromiseRejectedResult).reason, bad, parts[bad]!.name ?? parts[bad]!.filename);
    return settled.map((d) => (d as PromiseFulfilledResult<T>).value);
  };
  const results = await withDeadline(ctx.timeoutMs, scope.clientGone, async (signal) => {
    // Headers first (cheap): a bad part fails the request before any part is decoded.
    const sizes = firstFailure(await Promise.allSettled(parts.map((p) => decodeCost(p.data, p.contentType.type, p.headers, ctx.limitInputPixels))));
    return firstFailure(await Promise.allSettled(parts.map((p, i) => scoreImage(ctx, scope, p.data, p.contentType.type, p.headers, heatmap, signal, sizes[i]))));
  });
  const out = await Promise.all(
    results.map(async (r, i) => ({
      name: parts[i]!.name ?? null,
      filename: parts[i]!.filename ?? null,
      ...summary(r),
      ...(heatmap ? { heatmap: (await renderHeatmapPng(r, { size: ctx.heatmapSize })).toString('base64') } : {}),
    })),
  );
  sendJson(res, 200, { model: ctx.modelName, latencyMs: since(t0), results: out });
}
