// `serve` under hostile load (issue 13): admission by decoded bytes (read from the image header
// before decoding), slow senders that hold no admission slot, bodies whose real format is not the
// declared one. The flood itself (64/128 × 4900² PNGs) is measured by bench/serve-load.ts hostile.
import http from 'node:http';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ByteBudget, Slots } from '../src/serve/budget.js';
import { HttpError } from '../src/serve/errors.js';
import { startServer, type RunningServer, type ServeOptions } from '../src/serve/server.js';
import { makeModelFolder, testImage, type TestModel } from './helpers/make-model.js';

let model: TestModel;
let small: Buffer;
const servers: RunningServer[] = [];

beforeAll(async () => {
  model = await makeModelFolder();
  const img = testImage(40, 40, 1, 9);
  small = await sharp(Buffer.from(img.data), { raw: { width: 40, height: 40, channels: 1 } }).png().toBuffer();
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function serve(opts: Partial<ServeOptions> = {}): Promise<RunningServer> {
  const s = await startServer({ model: model.dir, port: 0, providers: ['cpu'], ...opts });
  servers.push(s);
  return s;
}

async function post(url: string, body: Buffer, type = 'image/png'): Promise<{ status: number; json: { error?: { code: string; message: string }; score?: number } }> {
  const r = await fetch(`${url}/v1/score`, { method: 'POST', body: new Uint8Array(body), headers: { 'content-type': type } });
  return { status: r.status, json: (await r.json()) as never };
}

const metric = async (url: string, series: string) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(text.split('\n').find((l) => l.startsWith(`${series} `))!.split(' ')[1]);
};

describe('ByteBudget', () => {
  it('grants in arrival order, makes later ones wait, 413 for one image over the budget, 503 past the wait', async () => {
    const b = new ByteBudget(100, 200, 2);
    const r1 = await b.acquire(60);
    const order: string[] = [];
    const p2 = b.acquire(50).then((r) => (order.push('50'), r));
    const p3 = b.acquire(10).then((r) => (order.push('10'), r)); // fits now, but waits its turn
    await new Promise((r) => setTimeout(r, 20));
    expect([b.inUse, b.waiting, order]).toEqual([60, 2, []]);
    r1();
    r1(); // idempotent
    const [r2, r3] = await Promise.all([p2, p3]);
    expect([b.inUse, order]).toEqual([60, ['50', '10']]);
    const e413 = await b.acquire(101).catch((e: unknown) => e);
    expect(e413).toBeInstanceOf(HttpError);
    expect((e413 as HttpError).status).toBe(413);
    const late = await b.acquire(90).catch((e: unknown) => e);
    expect([(late as HttpError).status, (late as HttpError).code]).toEqual([503, 'busy']);
    r2();
    r3();
    expect([b.inUse, b.waiting]).toEqual([0, 0]);
  });

  it('refuses at once when the waiting images already fill the budget queueFactor times', async () => {
    const b = new ByteBudget(100, 60_000, 1);
    const held = await b.acquire(100);
    const waiting = b.acquire(100);
    const t0 = performance.now();
    const e = await b.acquire(1).catch((x: unknown) => x);
    expect((e as HttpError).status).toBe(503);
    expect(performance.now() - t0).toBeLessThan(1000);
    held();
    (await waiting)();
  });

  it('Slots runs at most n at once', async () => {
    const s = new Slots(2);
    let running = 0;
    let peak = 0;
    await Promise.all(Array.from({ length: 6 }, () => s.run(async () => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, 10));
      running--;
    })));
    expect(peak).toBe(2);
  });
});

describe('serve admission', () => {
  it('413 for an image whose header says it decodes to more than --max-decoded-bytes; small ones still score', async () => {
    const s = await serve({ maxDecodedBytes: 1_000_000 });
    const big = await sharp({ create: { width: 1000, height: 1000, channels: 4, background: { r: 1, g: 2, b: 3, alpha: 1 } } }).png().toBuffer();
    const r = await post(s.url, big);
    expect([r.status, r.json.error?.code]).toEqual([413, 'image_too_large']);
    expect(r.json.error?.message).toMatch(/decode budget of 1000000 bytes/);
    expect((await post(s.url, small)).status).toBe(200);
    expect(await metric(s.url, 'ganomaly_decoded_bytes')).toBe(0);
  });

  it('concurrent uploads of big images: every one answered 200 or 503, decoded bytes never over the budget', async () => {
    const budget = 3 * 1500 * 1500 * 4;
    const s = await serve({ maxDecodedBytes: budget, decodeWaitMs: 2000 });
    const big = await sharp({ create: { width: 1500, height: 1500, channels: 4, background: { r: 9, g: 99, b: 199, alpha: 1 } } }).png().toBuffer();
    let peak = 0;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        peak = Math.max(peak, await metric(s.url, 'ganomaly_decoded_bytes'));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const codes = await Promise.all(Array.from({ length: 24 }, () => post(s.url, big).then((r) => r.status)));
    polling = false;
    await poll;
    expect(codes.every((c) => c === 200 || c === 503)).toBe(true);
    expect(codes.filter((c) => c === 200).length).toBeGreaterThanOrEqual(3);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(budget);
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
  });

  it('slow senders hold no admission slot: with --max-queue 2 and 6 uploads trickling in, a complete request is scored', async () => {
    const s = await serve({ maxQueue: 2 });
    const slow: http.ClientRequest[] = [];
    for (let i = 0; i < 6; i++) {
      const req = http.request(`${s.url}/v1/score`, { method: 'POST', agent: false, headers: { 'content-type': 'image/png', 'content-length': small.length } });
      req.on('error', () => undefined);
      req.write(small.subarray(0, 8));
      slow.push(req);
    }
    while ((await metric(s.url, 'ganomaly_arriving_images')) < 6) await new Promise((r) => setTimeout(r, 10));
    expect(await metric(s.url, 'ganomaly_admitted_images')).toBe(0);
    const r = await post(s.url, small);
    expect(r.status).toBe(200);
    expect(typeof r.json.score).toBe('number');
    for (const req of slow) req.destroy();
  });

  it('shutdown: a response in flight on a keep-alive connection says Connection: close', async () => {
    const s = await startServer({ model: model.dir, port: 0, providers: ['cpu'] });
    const agent = new http.Agent({ keepAlive: true });
    let finish = () => {};
    const reply = new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(`${s.url}/v1/score`, { method: 'POST', agent, headers: { 'content-type': 'image/png', 'content-length': small.length } }, (res) => {
        res.resume().on('end', () => resolve(res));
      });
      req.on('error', reject);
      req.write(small.subarray(0, 8));
      finish = () => req.end(small.subarray(8));
    });
    while ((await metric(s.url, 'ganomaly_arriving_images')) < 1) await new Promise((r) => setTimeout(r, 10));
    const closed = s.close();
    finish();
    const res = await reply;
    expect(res.statusCode).toBe(200);
    expect(res.headers.connection).toBe('close');
    await closed;
    agent.destroy();
  });

  it('415 when the body is not the declared format (GIF, TIFF or SVG sent as image/png)', async () => {
    const s = await serve();
    const raw = { raw: { width: 8, height: 8, channels: 3 as const } };
    const pixels = Buffer.alloc(8 * 8 * 3, 120);
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>');
    for (const body of [await sharp(pixels, raw).gif().toBuffer(), await sharp(pixels, raw).tiff().toBuffer(), svg]) {
      const r = await post(s.url, body);
      expect([r.status, r.json.error?.code]).toEqual([415, 'unsupported_media_type']);
    }
    const jpeg = await sharp(pixels, raw).jpeg().toBuffer();
    expect((await post(s.url, jpeg, 'image/jpeg')).status).toBe(200);
    expect((await post(s.url, jpeg, 'image/png')).status).toBe(415);
  });
});
