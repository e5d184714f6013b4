// `serve` under hostile load (issue 13): admission by decoded bytes (read from the image header
// before decoding), slow senders that hold no admission slot, bodies whose real format is not the
// declared one. The flood itself (64/128 × 4900² PNGs) is measured by bench/serve-load.ts hostile.
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GanomalyError, ImageDecodeError, preprocessPixels } from '../../src/runtime/node.js';
import { ByteBudget } from '../../src/gateway/serve/budget.js';
import { DecodePool, DecodeTimeoutError } from '../../src/gateway/serve/decode-pool.js';
import { startHealthListener } from '../../src/gateway/serve/health-listener.js';
import { HealthPortError, HttpError } from '../../src/gateway/serve/errors.js';
import { startServer, type RunningServer, type ServeOptions } from '../../src/gateway/serve/server.js';
import { makeModelFolder, testImage, type TestModel } from '../helpers/make-model.js';

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

  it('a small image that fits is granted at once, ahead of big ones waiting for room; a big one keeps arrival order', async () => {
    const b = new ByteBudget(100, 60_000, 1);
    const held = await b.acquire(70);
    const big = b.acquire(60); // waits for room
    const now = <T>(p: Promise<T>) => Promise.race([p.then((r) => ({ r }), (e: unknown) => ({ e })), new Promise((r) => setImmediate(() => r('waiting')))]);
    const small = await now(b.acquire(10, undefined, true));
    expect(small).toHaveProperty('r');
    const later = b.acquire(20); // not small: waits behind the big one although it fits
    expect(await now(later)).toBe('waiting');
    (small as { r: () => void }).r();
    held();
    expect(b.inUse).toBe(80);
    (await big)();
    (await later)();
    expect(b.inUse).toBe(0);
  });

  it('refuses at once when the waiting images already fill the budget queueFactor times', async () => {
    const b = new ByteBudget(100, 60_000, 1);
    const held = await b.acquire(100);
    const waiting = b.acquire(100);
    // Settled before the next event-loop turn: refused at once, not after the 60 s wait.
    const e = await Promise.race([b.acquire(1).then(() => 'acquired', (x: unknown) => x), new Promise((r) => setImmediate(() => r('still waiting')))]);
    expect((e as HttpError).status).toBe(503);
    held();
    (await waiting)();
  });
});

describe('serve admission', () => {
  it('413 for an image whose header says it decodes to more than --max-decoded (the body names that flag); small ones still score', async () => {
    const s = await serve({ maxDecodedBytes: 1_000_000 });
    const big = await sharp({ create: { width: 1000, height: 1000, channels: 4, background: { r: 1, g: 2, b: 3, alpha: 1 } } }).png().toBuffer();
    const r = await post(s.url, big);
    expect([r.status, r.json.error?.code]).toEqual([413, 'image_too_large']);
    expect(r.json.error?.message).toMatch(/decode budget of 1000000 bytes \(server option --max-decoded\)/);
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

describe('decode cost', () => {
  it('a decode past decodeTimeoutMs is refused with 422 decode_timeout; its budget is held until the worker lets go', async () => {
    const s = await serve({ decodeTimeoutMs: 1, healthPort: false });
    const big = await sharp({ create: { width: 2000, height: 2000, channels: 3, background: { r: 9, g: 80, b: 200 } } }).png().toBuffer();
    const r = await post(s.url, big);
    expect([r.status, r.json.error?.code]).toEqual([422, 'decode_timeout']);
    expect(r.json.error?.message).toMatch(/longer than 1 ms \(server option --decode-timeout-ms\)/);
    while ((await metric(s.url, 'ganomaly_decoded_bytes')) > 0) await new Promise((res) => setTimeout(res, 20));
  });

  it('the pool answers a timed-out decode at once; `finished` settles when its worker is free, and the worker is used again', async () => {
    const pool = await DecodePool.start({ workers: 1, timeoutMs: 1, limitInputPixels: 25e6, preprocessing: model.manifest.preprocessing });
    try {
      const big = await sharp({ create: { width: 2000, height: 2000, channels: 3, background: '#123' } }).png().toBuffer();
      const e = await pool.decode(big).then(() => null, (x: unknown) => x as DecodeTimeoutError);
      expect(e).toBeInstanceOf(DecodeTimeoutError);
      expect([e!.code, e!.timeoutMs]).toEqual(['decode_timeout', 1]);
      await e!.finished;
      const again = await pool.decode(big).then(() => null, (x: unknown) => x as DecodeTimeoutError);
      expect(again).toBeInstanceOf(DecodeTimeoutError); // the same worker took it, and timed it out too
      await again!.finished;
    } finally {
      await pool.close();
    }
  });

  it('a small image is not queued behind big ones sent before it (the express worker), with one decode worker', async () => {
    const s = await serve({ decodeConcurrency: 1, healthPort: false });
    const big = await sharp({ create: { width: 3000, height: 3000, channels: 3, background: { r: 9, g: 80, b: 200 } }, })
      .composite([{ input: Buffer.from(testImage(300, 300, 3, 4).data), raw: { width: 300, height: 300, channels: 3 }, tile: true }])
      .jpeg({ progressive: true }).toBuffer();
    const order: string[] = [];
    const bigs = Array.from({ length: 3 }, (_, i) => post(s.url, big, 'image/jpeg').then((r) => order.push(`big${i}:${r.status}`)));
    while ((await metric(s.url, 'ganomaly_arriving_images')) > 0 || (await metric(s.url, 'ganomaly_decoded_bytes')) === 0) await new Promise((r) => setTimeout(r, 5));
    const r = await post(s.url, small);
    order.push(`small:${r.status}`);
    await Promise.all(bigs);
    expect(order.filter((o) => o.startsWith('big')).map((o) => o.split(':')[1])).toEqual(['200', '200', '200']);
    expect(order.indexOf('small:200')).toBeLessThan(2); // before the second big image: not behind all three
  });
});

describe('requests the HTTP parser rejects', () => {
  it('400 and 431 are answered in JSON, counted in /metrics and logged like any answer', async () => {
    const lines: Record<string, unknown>[] = [];
    const s = await serve({ healthPort: false, log: (e) => void lines.push(e) });
    const raw = (text: string) => new Promise<string>((resolve) => {
      let out = '';
      const sock = net.connect(s.port, '127.0.0.1', () => sock.end(text));
      sock.on('data', (d) => (out += d.toString())).on('close', () => resolve(out)).on('error', () => resolve(out));
    });
    expect(await raw('NOT HTTP AT ALL\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 .*"code":"bad_request"/s);
    expect(await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431 .*"code":"headers_too_large"/s);
    const text = await (await fetch(`${s.url}/metrics`)).text();
    expect(text).toContain('ganomaly_http_requests_total{route="other",status="400"} 1');
    expect(text).toContain('ganomaly_http_requests_total{route="other",status="431"} 1');
    const logged = lines.filter((l) => l.msg === 'request' && l.route === 'other').map((l) => [l.status, l.code]);
    expect(logged).toEqual([[400, 'bad_request'], [431, 'headers_too_large']]);
  });
});

describe('decode workers', () => {
  it('a worker produces exactly the model input the runtime would, in order; bad bytes are ImageDecodeError; a dead worker is replaced', async () => {
    const pre = model.manifest.preprocessing;
    const pool = await DecodePool.start({ workers: 2, limitInputPixels: 1_000_000, preprocessing: pre });
    try {
      const imgs = [testImage(40, 40, 1, 1), testImage(77, 51, 3, 2), testImage(20, 30, 4, 3)];
      const pngs = await Promise.all(imgs.map((i) => sharp(Buffer.from(i.data), { raw: { width: i.width, height: i.height, channels: i.channels as 1 | 3 | 4 } }).png().toBuffer()));
      const got = await Promise.all(pngs.map((p) => pool.decode(p)));
      got.forEach((x, k) => expect(x).toEqual(preprocessPixels(imgs[k]!, pre)));
      await expect(pool.decode(Buffer.from('not an image'))).rejects.toBeInstanceOf(ImageDecodeError);
      const huge = await sharp({ create: { width: 1100, height: 1000, channels: 3, background: '#000' } }).png().toBuffer();
      await expect(pool.decode(huge)).rejects.toThrow(/pixel limit/);
      // Aborted while queued: it leaves the queue without being decoded.
      const ac = new AbortController();
      const busy = [pool.decode(pngs[1]!), pool.decode(pngs[1]!)];
      const queued = pool.decode(pngs[0]!, { signal: ac.signal });
      expect(pool.waiting).toBe(1);
      ac.abort();
      await expect(queued).rejects.toThrow(/ended before its image was decoded/);
      await Promise.all(busy);
      // A worker that dies (here: terminated under it) fails nothing else and is replaced.
      const [first] = (pool as unknown as { all: Set<{ worker: { terminate(): Promise<number> } }> }).all;
      await first!.worker.terminate();
      const again = await Promise.all(pngs.map((p) => pool.decode(p)));
      again.forEach((x, k) => expect(x).toEqual(got[k]));
    } finally {
      await pool.close();
    }
    await expect(pool.decode(small)).rejects.toThrow(/closed/);
  });

  it('the server decodes uploads in its workers: same scores as the library, no decoded pixels in the server thread', async () => {
    const s = await serve({ maxConcurrentDecodes: 1 });
    const r = await post(s.url, small);
    expect(r.status).toBe(200);
    const img = testImage(40, 40, 1, 9);
    expect(r.json.score).toBe((await s.detector.score(img)).score);
    // 12 uploads of a 3000×3000 RGBA PNG (36 MB decoded each). sharp's output buffers are V8
    // external memory of the isolate that decodes: the instrument first sees one decoded here.
    const big = await sharp({ create: { width: 3000, height: 3000, channels: 4, background: { r: 9, g: 80, b: 200, alpha: 1 } } }).png().toBuffer();
    const externalPeakDuring = async (work: () => Promise<unknown>) => {
      const before = process.memoryUsage().external;
      let peak = before;
      const watch = setInterval(() => (peak = Math.max(peak, process.memoryUsage().external)), 1);
      await work();
      peak = Math.max(peak, process.memoryUsage().external);
      clearInterval(watch);
      return peak - before;
    };
    expect(await externalPeakDuring(() => sharp(big).raw().toBuffer())).toBeGreaterThanOrEqual(36e6);
    let codes: number[] = [];
    const grew = await externalPeakDuring(async () => (codes = await Promise.all(Array.from({ length: 12 }, () => post(s.url, big).then((x) => x.status)))));
    expect(codes.every((c) => c === 200 || c === 503)).toBe(true);
    expect(codes.filter((c) => c === 200).length).toBeGreaterThan(0);
    expect(grew).toBeLessThan(30e6); // bodies only (~12 × 30 KB); a decoded image here would be 36 MB
  });
});

describe('health port', () => {
  it('is on by default: answers /healthz and /readyz from its own thread; 503 when the server thread stalls and while draining', async () => {
    const s = await serve(); // port 0: the health port is any free port too
    expect(s.healthUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s.healthUrl).not.toBe(s.url);
    const get = async (p: string) => {
      const r = await fetch(`${s.healthUrl}${p}`);
      return [r.status, ((await r.json()) as { status?: string }).status];
    };
    expect(await get('/healthz')).toEqual([200, 'ok']);
    expect(await get('/readyz')).toEqual([200, 'ready']);
    expect((await fetch(`${s.healthUrl}/v1/score`, { method: 'POST', body: 'x' })).status).toBe(404);
    expect((await fetch(`${s.healthUrl}/healthz`, { method: 'POST', body: 'x' })).status).toBe(405);
    await s.close();
    await expect(fetch(`${s.healthUrl}/healthz`)).rejects.toThrow(); // closed with the server
  });

  it('a stalled main thread turns /healthz into 503 (probed from another process while this thread is blocked)', async () => {
    const h = await startHealthListener('127.0.0.1', 0, 300);
    try {
      h.setState('ready');
      const url = `http://127.0.0.1:${h.port}/healthz`;
      const blockingProbe = (delayMs: number) => execFileSync(process.execPath, ['-e', `setTimeout(() => fetch('${url}').then(async (r) => console.log(r.status, (await r.json()).status)), ${delayMs})`], { encoding: 'utf8' }).trim();
      // execFileSync blocks this thread, so its beats stop while the child probes.
      expect(blockingProbe(800)).toBe('503 stalled');
      await new Promise((r) => setTimeout(r, 250)); // beats again
      // Asked without blocking this thread (a blocking probe is itself a stall once it takes 300 ms).
      const ok = await fetch(url);
      expect([ok.status, ((await ok.json()) as { status: string }).status]).toEqual([200, 'ok']);
      h.setState('draining');
      expect((await fetch(`http://127.0.0.1:${h.port}/readyz`)).status).toBe(503);
    } finally {
      await h.close();
    }
  });

  it('probes get through while idle connections fill the listener: the longest-idle sockets are evicted, a keep-alive prober keeps its connection', async () => {
    const h = await startHealthListener('127.0.0.1', 0);
    const idle: net.Socket[] = [];
    try {
      h.setState('ready');
      const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const proberSockets = new Set<net.Socket>();
      const probe = (agent: http.Agent | false) => new Promise<number | string>((resolve) => {
        http.get({ host: '127.0.0.1', port: h.port, path: '/healthz', agent }, (res) => {
          if (agent) proberSockets.add(res.socket);
          res.resume().on('end', () => resolve(res.statusCode!));
        }).on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      });
      expect(await probe(keepAlive)).toBe(200); // a prober with its own keep-alive connection
      // 200 connections that never send a byte, well past the health port's 128 sockets.
      let closedByServer = 0;
      for (let i = 0; i < 200; i++) {
        const s = net.connect(h.port, '127.0.0.1');
        s.on('error', () => undefined).on('close', () => closedByServer++);
        idle.push(s);
        await new Promise((r) => s.once('connect', r));
      }
      // Accepted in arrival order: each probe below is accepted after every idle socket.
      const fresh: (number | string)[] = [];
      for (let i = 0; i < 20; i++) fresh.push(await probe(false));
      expect(fresh).toEqual(Array(20).fill(200));
      expect(await probe(keepAlive)).toBe(200);
      expect(proberSockets.size).toBe(1); // its connection was never the one evicted
      // Evicted: the idle ones, oldest first (the first 72 + one per probe), never the newest.
      expect(closedByServer).toBeGreaterThanOrEqual(200 - 128);
      expect(idle.at(-1)!.destroyed).toBe(false);
      expect(idle[0]!.destroyed).toBe(true);
      keepAlive.destroy();
    } finally {
      idle.forEach((s) => s.destroy());
      await h.close();
    }
  });

  it('a health port already in use fails startServer clearly (naming how to move or disable it) and releases the model', async () => {
    const blocker = http.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const err = await startServer({ model: model.dir, port: 0, providers: ['cpu'], healthPort: port }).then(() => null, (e: unknown) => e as HealthPortError);
      expect(err).toBeInstanceOf(HealthPortError);
      expect(err).toBeInstanceOf(GanomalyError);
      expect(err!.code).toBe('health_port_unavailable');
      expect(err!.message).toMatch(/cannot listen on the health port 127\.0\.0\.1:\d+: .*EADDRINUSE.*--no-health-port/);
    } finally {
      blocker.close();
    }
  });

  it('defaults to the main port + 1 when the main port is given', async () => {
    // A free port whose successor is free too, found by binding both (another process may take one
    // between our check and the server's listen: then try another pair).
    for (let attempt = 0; ; attempt++) {
      const probe = http.createServer();
      await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
      const port = (probe.address() as { port: number }).port;
      await new Promise<void>((r) => probe.close(() => r()));
      if (port >= 65535) continue;
      const s = await serve({ port }).catch((e: unknown) => {
        if (attempt < 5 && /EADDRINUSE/.test(String((e as Error).message))) return null;
        throw e;
      });
      if (!s) continue;
      expect(s.port).toBe(port);
      expect(s.healthUrl).toBe(`http://127.0.0.1:${port + 1}`);
      expect((await fetch(`${s.healthUrl}/readyz`)).status).toBe(200);
      await s.close();
      return;
    }
  });

  it('healthPort: false opens none', async () => {
    const s = await serve({ healthPort: false });
    expect(s.healthUrl).toBeUndefined();
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200); // the main port still answers probes
  });
});
