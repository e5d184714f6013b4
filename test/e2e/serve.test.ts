// `ganomaly serve` in-process against a real model folder (seeded random weights, built by the
// ONNX writer): scores equal to the library's, every error status, micro-batching, the bounded
// queue, shutdown draining, metrics and logs. No timed assertions: waits are long windows that
// the tests end deliberately (queue full, flush on close), never races against a clock.
import http from 'node:http';
import net from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDetector, type NodeDetector } from '../../src/runtime/node.js';
import type { LogEntry } from '../../src/gateway/serve/logging.js';
import { startServer, type RunningServer, type ServeOptions } from '../../src/gateway/serve/server.js';
import { makeModelFolder, testImage, type TestModel } from '../helpers/make-model.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json: () => any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function request(url: string, opts: { method?: string; headers?: Record<string, string | number>; body?: Buffer | string; agent?: http.Agent | false } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'POST', headers: opts.headers, agent: opts.agent ?? agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body.toString()) });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const post = (url: string, body: Buffer | string, type: string, headers: Record<string, string | number> = {}) =>
  request(url, { body, headers: { 'content-type': type, ...headers } });

function multipart(parts: { name: string; type: string; data: Buffer; headers?: string[] }[]): { body: Buffer; type: string } {
  const boundary = 'ganomaly-test-boundary';
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const head = [`Content-Disposition: form-data; name="${p.name}"; filename="${p.name}.bin"`, `Content-Type: ${p.type}`, ...(p.headers ?? [])];
    chunks.push(Buffer.from(`--${boundary}\r\n${head.join('\r\n')}\r\n\r\n`), p.data, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), type: `multipart/form-data; boundary=${boundary}` };
}

/** Reads one sample of a metric from the Prometheus text. */
function metric(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  if (!line) throw new Error(`no series ${series} in:\n${text}`);
  return Number(line.slice(series.length + 1));
}

async function until(url: string, series: string, value: number): Promise<void> {
  for (;;) {
    const text = (await request(`${url}/metrics`, { method: 'GET' })).body.toString();
    if (metric(text, series) === value) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * An upload left half-sent: an admitted request still on its way, so the batcher waits out its
 * window for it instead of running what is queued. `finish()` sends the rest; resolves to the status.
 */
async function blocker(url: string, png: Buffer): Promise<{ finish(): Promise<number> }> {
  let send = () => {};
  const done = new Promise<number>((resolve, reject) => {
    const req = http.request(`${url}/v1/score`, { method: 'POST', agent: false, headers: { 'content-type': 'image/png', 'content-length': png.length } }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.write(png.subarray(0, 10));
    send = () => req.end(png.subarray(10));
  });
  await until(url, 'ganomaly_arriving_images', 1); // arriving, not admitted: admission waits for the whole body
  return { finish: () => (send(), done) };
}

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** A PNG whose header claims 50000 × 50000 pixels in a few dozen bytes: a decompression bomb. */
function bombPng(): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(50_000, 0);
  ihdr.writeUInt32BE(50_000, 4);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit greyscale
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0, 0, 0, 0, 1])), chunk('IEND', Buffer.alloc(0))]);
}

let model: TestModel;
let direct: NodeDetector;
const images = Array.from({ length: 24 }, (_, i) => testImage(30 + (i % 7) * 5, 28 + (i % 5) * 6, [1, 3, 4][i % 3]!, 100 + i));
let pngs: Buffer[];
const servers: RunningServer[] = [];

async function serve(extra: Partial<ServeOptions> = {}): Promise<RunningServer> {
  const s = await startServer({ model: model.dir, port: 0, providers: ['cpu'], ...extra });
  servers.push(s);
  return s;
}

const rawHeaders = (i: number) => ({ 'x-width': images[i]!.width, 'x-height': images[i]!.height, 'x-channels': images[i]!.channels });

beforeAll(async () => {
  model = await makeModelFolder();
  direct = await createDetector({ model: model.dir, executionProviders: ['cpu'], logger: null });
  pngs = await Promise.all(images.map((im) => sharp(Buffer.from(im.data), { raw: { width: im.width, height: im.height, channels: im.channels as 1 | 3 | 4 } }).png().toBuffer()));
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await direct.dispose();
  agent.destroy();
});

describe('scoring', () => {
  let s: RunningServer;
  const logs: LogEntry[] = [];
  beforeAll(async () => {
    s = await serve({ log: (e) => logs.push(e) });
  });

  it('answers PNG, JPEG, WebP and raw pixels with the scores the library gives', async () => {
    const im = images[1]!;
    const src = sharp(Buffer.from(im.data), { raw: { width: im.width, height: im.height, channels: 3 } });
    const bodies: [Buffer, string, Record<string, string | number>][] = [
      [pngs[1]!, 'image/png', {}],
      [await src.clone().jpeg().toBuffer(), 'image/jpeg', {}],
      [await src.clone().webp({ lossless: true }).toBuffer(), 'image/webp', {}],
      [Buffer.from(im.data), 'application/octet-stream', rawHeaders(1)],
    ];
    for (const [body, type, headers] of bodies) {
      const r = await post(`${s.url}/v1/score`, body, type, headers);
      expect(r.status, type).toBe(200);
      const want = await direct.score(type === 'application/octet-stream' ? im : body);
      expect(r.json()).toEqual({
        score: want.score, normalized: want.normalized, isAnomaly: want.isAnomaly, threshold: want.threshold,
        model: model.manifest.name, latencyMs: expect.any(Number),
      });
      expect(r.headers['content-type']).toMatch(/^application\/json/);
    }
  });

  it('adds a heatmap with ?heatmap=1 and returns one as the body for Accept: image/png', async () => {
    const want = await direct.score(pngs[2]!);
    const j = await post(`${s.url}/v1/score?heatmap=1`, pngs[2]!, 'image/png');
    expect(j.status).toBe(200);
    expect(j.json().score).toBe(want.score);
    const meta = await sharp(Buffer.from(j.json().heatmap, 'base64')).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 256, 256]);
    const p = await post(`${s.url}/v1/score`, pngs[2]!, 'image/png', { accept: 'image/png' });
    expect(p.status).toBe(200);
    expect(p.headers['content-type']).toBe('image/png');
    expect(Number(p.headers['x-score'])).toBe(want.score);
    expect(p.headers['x-is-anomaly']).toBe(String(want.isAnomaly));
    expect((await sharp(p.body).metadata()).format).toBe('png');
  });

  it('scores a multipart batch in order, raw parts included', async () => {
    const { body, type } = multipart([
      { name: 'first', type: 'image/png', data: pngs[3]! },
      { name: 'second', type: 'application/octet-stream', data: Buffer.from(images[4]!.data), headers: Object.entries(rawHeaders(4)).map(([k, v]) => `${k}: ${v}`) },
      { name: 'third', type: 'image/png', data: pngs[5]! },
    ]);
    const r = await post(`${s.url}/v1/score:batch`, body, type);
    expect(r.status).toBe(200);
    const want = await direct.score([pngs[3]!, images[4]!, pngs[5]!]);
    expect(r.json().model).toBe(model.manifest.name);
    expect(r.json().results).toEqual(want.map((w, i) => ({
      name: ['first', 'second', 'third'][i], filename: `${['first', 'second', 'third'][i]}.bin`,
      score: w.score, normalized: w.normalized, isAnomaly: w.isAnomaly, threshold: w.threshold,
    })));
  });

  it('gives concurrent requests the same scores as direct scoring', async () => {
    const replies = await Promise.all(pngs.map((p) => post(`${s.url}/v1/score`, p, 'image/png')));
    const want = await direct.score(pngs);
    replies.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.json().score).toBeCloseTo(want[i]!.score, 5);
      expect(r.json().isAnomaly).toBe(want[i]!.isAnomaly);
    });
  });

  it('honours Expect: 100-continue', async () => {
    const r = await new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
      let continued = false;
      const req = http.request(`${s.url}/v1/score`, { method: 'POST', agent: false, headers: { 'content-type': 'image/png', 'content-length': pngs[0]!.length, expect: '100-continue' } });
      req.on('continue', () => {
        continued = true;
        req.end(pngs[0]);
      });
      req.on('response', (res) => res.resume().on('end', () => resolve({ status: res.statusCode!, continued })));
      req.on('error', reject);
    });
    expect(r).toEqual({ status: 200, continued: true });
  });

  it('serves health, readiness, the manifest, and 404/405 as JSON errors', async () => {
    expect((await request(`${s.url}/healthz`, { method: 'GET' })).json()).toEqual({ status: 'ok' });
    expect((await request(`${s.url}/readyz`, { method: 'GET' })).json()).toEqual({ status: 'ready', model: model.manifest.name, provider: 'cpu', precision: 'fp32' });
    expect((await request(`${s.url}/v1/model`, { method: 'GET' })).json().manifest).toEqual(model.manifest);
    const nf = await request(`${s.url}/nope`, { method: 'GET' });
    expect([nf.status, nf.json().error.code]).toEqual([404, 'not_found']);
    const na = await request(`${s.url}/v1/score`, { method: 'GET' });
    expect([na.status, na.json().error.code, na.headers.allow]).toEqual([405, 'method_not_allowed', 'POST']);
  });

  it('writes one JSON log line per request, with no image data', async () => {
    const before = logs.filter((l) => l.msg === 'request').length;
    await post(`${s.url}/v1/score`, pngs[6]!, 'image/png', { 'x-request-id': 'abc-123' });
    await post(`${s.url}/v1/score`, 'nope', 'text/plain');
    const lines = logs.filter((l) => l.msg === 'request').slice(before);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ id: 'abc-123', method: 'POST', route: '/v1/score', status: 200, images: 1, bytesIn: pngs[6]!.length });
    expect(lines[1]).toMatchObject({ status: 415, code: 'unsupported_media_type' });
    for (const l of lines) expect(JSON.stringify(l).length).toBeLessThan(400);
  });
});

describe('client errors', () => {
  let s: RunningServer;
  beforeAll(async () => {
    s = await serve({ maxBodyBytes: 64 * 1024, bodyTimeoutMs: 300, limitInputPixels: 4_000_000 });
  });

  const expectError = (r: Reply, status: number, code: string) => {
    expect(r.status).toBe(status);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(r.json()).toEqual({ error: { code, message: expect.any(String) } });
  };

  it('415 for unsupported or missing content types, on both endpoints and per part', async () => {
    expectError(await post(`${s.url}/v1/score`, 'hello', 'text/plain'), 415, 'unsupported_media_type');
    expectError(await request(`${s.url}/v1/score`, { body: pngs[0]! }), 415, 'unsupported_media_type');
    const mp = multipart([{ name: 'a', type: 'image/png', data: pngs[0]! }]);
    expectError(await post(`${s.url}/v1/score`, mp.body, mp.type), 415, 'unsupported_media_type');
    expectError(await post(`${s.url}/v1/score:batch`, pngs[0]!, 'image/png'), 415, 'unsupported_media_type');
    const bad = multipart([{ name: 'ok', type: 'image/png', data: pngs[0]! }, { name: 'txt', type: 'text/plain', data: Buffer.from('x') }]);
    const r = await post(`${s.url}/v1/score:batch`, bad.body, bad.type);
    expectError(r, 415, 'unsupported_media_type');
    expect(r.json().error.message).toMatch(/^part 1 \('txt'\)/);
  });

  it('400 for undecodable images, decompression bombs, bad raw pixels and bad multipart', async () => {
    expectError(await post(`${s.url}/v1/score`, Buffer.from('not a png at all'), 'image/png'), 400, 'undecodable_image');
    expectError(await post(`${s.url}/v1/score`, bombPng(), 'image/png'), 400, 'image_too_large');
    expectError(await post(`${s.url}/v1/score`, Buffer.alloc(0), 'image/png'), 400, 'empty_body');
    expectError(await post(`${s.url}/v1/score`, Buffer.alloc(12), 'application/octet-stream'), 400, 'invalid_raw_pixels');
    expectError(await post(`${s.url}/v1/score`, Buffer.alloc(12), 'application/octet-stream', { 'x-width': 2, 'x-height': 2, 'x-channels': 1 }), 400, 'invalid_raw_pixels');
    expectError(await post(`${s.url}/v1/score`, Buffer.alloc(12), 'application/octet-stream', { 'x-width': 2, 'x-height': 2, 'x-channels': 5 }), 400, 'invalid_raw_pixels');
    expectError(await post(`${s.url}/v1/score:batch`, 'garbage', 'multipart/form-data; boundary=zzz'), 400, 'bad_multipart');
    const one = multipart([{ name: 'good', type: 'image/png', data: pngs[0]! }, { name: 'broken', type: 'image/png', data: Buffer.from('xx') }]);
    const r = await post(`${s.url}/v1/score:batch`, one.body, one.type);
    expectError(r, 400, 'undecodable_image');
    expect(r.json().error.message).toMatch(/^part 1 \('broken'\)/);
  });

  it('413 from Content-Length before reading, mid-stream when chunked, and instead of 100 Continue', async () => {
    const big = Buffer.alloc(200 * 1024, 7);
    const declared = await post(`${s.url}/v1/score`, big, 'image/png');
    expectError(declared, 413, 'body_too_large');
    expect(declared.headers.connection).toBe('close');
    const chunked = await new Promise<Reply>((resolve, reject) => {
      const req = http.request(`${s.url}/v1/score`, { method: 'POST', agent: false, headers: { 'content-type': 'image/png', 'transfer-encoding': 'chunked' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body.toString()) });
        });
      });
      req.on('error', reject);
      for (let i = 0; i < 4; i++) req.write(big.subarray(0, 32 * 1024));
      req.write(big); // past the limit
    });
    expectError(chunked, 413, 'body_too_large');
    const expect100 = await new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
      let continued = false;
      const req = http.request(`${s.url}/v1/score`, { method: 'POST', agent: false, headers: { 'content-type': 'image/png', 'content-length': 10 << 20, expect: '100-continue' } });
      req.on('continue', () => (continued = true));
      req.on('response', (res) => res.resume().on('end', () => resolve({ status: res.statusCode!, continued })));
      req.on('error', reject);
    });
    expect(expect100).toEqual({ status: 413, continued: false });
  });

  it('408 when the body does not arrive in time', async () => {
    const r = await new Promise<Reply>((resolve, reject) => {
      const req = http.request(`${s.url}/v1/score`, { method: 'POST', agent: false, headers: { 'content-type': 'image/png', 'content-length': 1000 } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body.toString()) });
          req.destroy();
        });
      });
      req.on('error', reject);
      req.write(Buffer.alloc(10)); // and never the rest
    });
    expectError(r, 408, 'body_timeout');
  });

  it('answers malformed HTTP with a JSON 400 and keeps serving', async () => {
    const raw = await new Promise<string>((resolve) => {
      const sock = net.connect(s.port, '127.0.0.1', () => sock.write('THIS IS NOT HTTP\r\n\r\n'));
      let text = '';
      sock.on('data', (d) => (text += d.toString())).on('close', () => resolve(text));
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).error.code).toBe('bad_request');
    expect((await post(`${s.url}/v1/score`, pngs[0]!, 'image/png')).status).toBe(200);
  });
});

describe('batching, backpressure, deadlines, shutdown', () => {
  it('groups concurrent requests into one run (batch-size histogram)', async () => {
    // A 60 s window held open by an unfinished upload: a batch runs exactly when its 8th image arrives.
    const s = await serve({ maxBatch: 8, maxWaitMs: 60_000 });
    const hold = await blocker(s.url, pngs[20]!);
    const replies = await Promise.all(pngs.slice(0, 16).map((p) => post(`${s.url}/v1/score`, p, 'image/png')));
    const want = await direct.score(pngs.slice(0, 16));
    replies.forEach((r, i) => expect(r.json().score).toBeCloseTo(want[i]!.score, 5));
    expect(await hold.finish()).toBe(200); // alone now: runs without waiting out the window
    const text = (await request(`${s.url}/metrics`, { method: 'GET' })).body.toString();
    expect(metric(text, 'ganomaly_batch_size_count')).toBe(3);
    expect(metric(text, 'ganomaly_batch_size_sum')).toBe(17);
    expect(metric(text, 'ganomaly_batch_size_bucket{le="1"}')).toBe(1);
    expect(metric(text, 'ganomaly_batch_size_bucket{le="4"}')).toBe(1);
    expect(metric(text, 'ganomaly_batch_size_bucket{le="8"}')).toBe(3);
    expect(metric(text, 'ganomaly_http_requests_total{route="/v1/score",status="200"}')).toBe(17);
  });

  it('a lone request does not wait for the window', async () => {
    const s = await serve({ maxBatch: 8, maxWaitMs: 600_000, timeoutMs: 60_000 });
    expect((await post(`${s.url}/v1/score`, pngs[0]!, 'image/png')).status).toBe(200);
  });

  it('503 with Retry-After at once when the queue is full; the admitted requests still complete', async () => {
    const s = await serve({ maxBatch: 8, maxWaitMs: 60_000, maxQueue: 1 });
    const hold = await blocker(s.url, pngs[20]!); // still uploading: holds no slot
    const queued = post(`${s.url}/v1/score`, pngs[1]!, 'image/png');
    await until(s.url, 'ganomaly_queue_depth', 1);
    const r = await post(`${s.url}/v1/score`, pngs[2]!, 'image/png');
    expect([r.status, r.headers['retry-after'], r.json().error.code]).toEqual([503, '1', 'queue_full']);
    const mp = multipart([{ name: 'a', type: 'image/png', data: pngs[3]! }]);
    expect((await post(`${s.url}/v1/score:batch`, mp.body, mp.type)).status).toBe(503);
    const text = (await request(`${s.url}/metrics`, { method: 'GET' })).body.toString();
    expect(metric(text, 'ganomaly_admitted_images')).toBe(1);
    const closed = s.close(); // flushes the window
    expect((await queued).status).toBe(200);
    expect(await hold.finish()).toBe(200);
    await closed;
  });

  it('answers /healthz while a large batch is being scored (the session runs in a worker thread)', async () => {
    // A model big enough that one run of 64 images lasts long past the polling below.
    const big = await makeModelFolder({ ...model.cfg, isize: 64, nz: 64, ngf: 64, ndf: 64 }, 5);
    const bigPng = await sharp(Buffer.from(testImage(64, 64, 1, 3).data), { raw: { width: 64, height: 64, channels: 1 } }).png().toBuffer();
    const s = await serve({ model: big.dir, maxBatch: 64, maxWaitMs: 60_000 });
    const order: string[] = [];
    const mp = multipart(Array.from({ length: 64 }, (_, i) => ({ name: `p${i}`, type: 'image/png', data: bigPng })));
    const batch = post(`${s.url}/v1/score:batch`, mp.body, mp.type).then((r) => (order.push('batch'), r));
    // All 64 decoded and taken from the queue: the run has started and not yet been answered.
    while (order.length === 0) {
      const text = (await request(`${s.url}/metrics`, { method: 'GET' })).body.toString();
      if (metric(text, 'ganomaly_admitted_images') === 64 && metric(text, 'ganomaly_arriving_images') === 0 && metric(text, 'ganomaly_queue_depth') === 0) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const health = await request(`${s.url}/healthz`, { method: 'GET' }).then((r) => (order.push('healthz'), r));
    expect(health.status).toBe(200);
    const r = await batch;
    expect([r.status, r.json().results.length]).toEqual([200, 64]);
    expect(order).toEqual(['healthz', 'batch']);
    expect(s.detector.provider).toBe('cpu');
  });

  it('504 when scoring misses --timeout-ms, and the request leaves the queue', async () => {
    const s = await serve({ maxBatch: 8, maxWaitMs: 60_000, timeoutMs: 100 });
    const hold = await blocker(s.url, pngs[20]!);
    const r = await post(`${s.url}/v1/score`, pngs[0]!, 'image/png');
    expect([r.status, r.json().error.code]).toEqual([504, 'scoring_timeout']);
    const text = (await request(`${s.url}/metrics`, { method: 'GET' })).body.toString();
    expect(metric(text, 'ganomaly_queue_depth')).toBe(0);
    expect(metric(text, 'ganomaly_admitted_images')).toBe(0); // the blocker is still arriving
    expect(metric(text, 'ganomaly_arriving_images')).toBe(1);
    expect(await hold.finish()).toBe(200);
  });

  it('a 504 while decoding leaves the accounts balanced', async () => {
    const s = await serve({ timeoutMs: 1 });
    const big = await sharp({ create: { width: 3000, height: 3000, channels: 3, background: { r: 9, g: 99, b: 199 } } }).png().toBuffer();
    const r = await post(`${s.url}/v1/score`, big, 'image/png');
    expect([r.status, r.json().error.code]).toEqual([504, 'scoring_timeout']);
    await new Promise((resolve) => setTimeout(resolve, 300)); // let the abandoned decode finish
    const text = (await request(`${s.url}/metrics`, { method: 'GET' })).body.toString();
    expect(metric(text, 'ganomaly_arriving_images')).toBe(0);
    expect(metric(text, 'ganomaly_admitted_images')).toBe(0);
    expect(metric(text, 'ganomaly_queue_depth')).toBe(0);
  });

  it('drops the queued images of a client that went away', async () => {
    const logs: LogEntry[] = [];
    const s = await serve({ maxBatch: 8, maxWaitMs: 60_000, log: (e) => logs.push(e) });
    const hold = await blocker(s.url, pngs[20]!);
    const req = http.request(`${s.url}/v1/score`, { method: 'POST', agent: false, headers: { 'content-type': 'image/png' } });
    req.on('error', () => undefined);
    req.end(pngs[1]);
    await until(s.url, 'ganomaly_queue_depth', 1);
    req.destroy();
    await until(s.url, 'ganomaly_queue_depth', 0);
    await until(s.url, 'ganomaly_admitted_images', 0);
    expect(logs.find((l) => l.msg === 'request' && l.status === 499)).toMatchObject({ route: '/v1/score' });
    expect(await hold.finish()).toBe(200);
    const text = (await request(`${s.url}/metrics`, { method: 'GET' })).body.toString();
    expect(metric(text, 'ganomaly_batch_size_sum')).toBe(1); // only the blocker was scored
  });

  it('close() finishes accepted requests (queued or still uploading), then refuses connections', async () => {
    const s = await serve({ maxBatch: 64, maxWaitMs: 60_000 });
    const uploading = await blocker(s.url, pngs[6]!); // an upload in progress when shutdown starts
    const queued = pngs.slice(0, 5).map((p) => post(`${s.url}/v1/score`, p, 'image/png'));
    await until(s.url, 'ganomaly_queue_depth', 5);
    const closed = s.close();
    await expect(request(`${s.url}/healthz`, { method: 'GET', agent: false })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect((await Promise.all(queued)).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(await uploading.finish()).toBe(200);
    await closed;
    await expect(direct.score(pngs[0]!)).resolves.toBeDefined(); // the test's own detector is untouched
    await expect(s.detector.score(pngs[0]!)).rejects.toMatchObject({ name: 'DisposedError' });
  });
});

describe('metrics', () => {
  it('is valid Prometheus text: HELP/TYPE per family, cumulative buckets, +Inf = count', async () => {
    const s = await serve();
    await Promise.all(pngs.slice(0, 6).map((p) => post(`${s.url}/v1/score`, p, 'image/png')));
    await post(`${s.url}/v1/score`, 'x', 'text/plain');
    const r = await request(`${s.url}/metrics`, { method: 'GET' });
    expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = r.body.toString();
    const families = new Map<string, string>();
    for (const line of text.trimEnd().split('\n')) {
      const m = /^# (HELP|TYPE) (\w+) (.+)$/.exec(line);
      if (m) {
        if (m[1] === 'TYPE') families.set(m[2]!, m[3]!);
        continue;
      }
      expect(line).toMatch(/^[a-zA-Z_:][\w:]*(\{[a-zA-Z_]\w*="(?:[^"\\]|\\.)*"(,[a-zA-Z_]\w*="(?:[^"\\]|\\.)*")*\})? (-?[\d.e+-]+|\+Inf|NaN)$/);
      const name = line.split(/[{ ]/)[0]!;
      const family = [...families.keys()].find((f) => name === f || name === `${f}_bucket` || name === `${f}_sum` || name === `${f}_count`);
      expect(family, line).toBeDefined();
    }
    expect(families.get('ganomaly_http_requests_total')).toBe('counter');
    expect(families.get('ganomaly_http_request_duration_seconds')).toBe('histogram');
    expect(families.get('ganomaly_batch_size')).toBe('histogram');
    expect(families.get('ganomaly_queue_depth')).toBe('gauge');
    expect(metric(text, 'ganomaly_http_requests_total{route="/v1/score",status="200"}')).toBe(6);
    expect(metric(text, 'ganomaly_http_requests_total{route="/v1/score",status="415"}')).toBe(1);
    const buckets = text.split('\n').filter((l) => l.startsWith('ganomaly_http_request_duration_seconds_bucket{route="/v1/score"'));
    const counts = buckets.map((l) => Number(l.split(' ')[1]));
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(counts.at(-1)).toBe(metric(text, 'ganomaly_http_request_duration_seconds_count{route="/v1/score"}'));
    expect(metric(text, 'ganomaly_batch_size_sum')).toBe(6);
    expect(metric(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });
});
