// The webhook sink against a real HTTP receiver on 127.0.0.1 that misbehaves on purpose.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { AnomalyEvent } from '../../src/gateway/watch/events.js';
import { WebhookSink } from '../../src/gateway/watch/sinks/webhook.js';

interface Received {
  key: string;
  body: Record<string, unknown>;
}

/** A receiver whose `behave(n)` decides what the n-th request (0-based) gets. */
async function receiver(behave: (n: number, req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; accepted: Received[]; requests: () => number; server: Server }> {
  const accepted: Received[] = [];
  let n = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const i = n++;
      // Counted as arrived only when answered 2xx, as a receiver that commits on success would.
      res.on('finish', () => {
        if (res.statusCode < 300) accepted.push({ key: String(req.headers['idempotency-key']), body: JSON.parse(body) as Record<string, unknown> });
      });
      behave(i, req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, accepted, requests: () => n, server };
}

function event(i: number, type: AnomalyEvent['type'] = 'start'): AnomalyEvent {
  const t = new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
  return {
    type, id: `ev${i}`, seq: 0, camera: 'cam', startTime: t, startFrame: i, endTime: null, endFrame: null, time: t, frame: i,
    peakScore: 2, peakNormalized: 1, peakTime: t, peakFrame: i, peakBox: null, framesOver: 3, threshold: 1, snapshot: null,
  };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

describe('WebhookSink (real HTTP receiver)', () => {
  it('a receiver that answers 500, then hangs past the timeout: every event arrives once, in order', async () => {
    const hung: ServerResponse[] = [];
    const r = await receiver((n, _req, res) => {
      if (n === 0) res.writeHead(500).end('boom');
      else if (n === 1) hung.push(res); // never answered: the sink's timeout must fire
      else if (n === 4) res.writeHead(503).end();
      else res.writeHead(204).end();
    });
    servers.push(r.server);
    const logs: Record<string, unknown>[] = [];
    // The timeout is long enough for a loaded 2-core machine to answer; only the hang passes it.
    const sink = new WebhookSink({ url: r.url, timeoutMs: 2000, retries: 4, backoffMs: 20, queueSize: 100, log: (e) => logs.push(e) });
    for (let i = 0; i < 6; i++) sink.publish(event(i));
    sink.state('cam', 'offline', 'ffmpeg exited');
    await sink.close();
    expect(r.accepted.map((a) => a.body.id ?? a.body.state)).toEqual(['ev0', 'ev1', 'ev2', 'ev3', 'ev4', 'ev5', 'offline']);
    expect(r.accepted.map((a) => a.key).slice(0, 6)).toEqual(['ev0/0', 'ev1/0', 'ev2/0', 'ev3/0', 'ev4/0', 'ev5/0']);
    expect(r.accepted[6]!.body).toMatchObject({ type: 'state', camera: 'cam', state: 'offline', reason: 'ffmpeg exited' });
    expect(r.requests()).toBe(10); // 7 messages + 500 + hang + 503
    expect(logs.map((l) => [l.level, l.event, l.attempt, l.msg])).toEqual([
      ['info', 'ev0', 1, 'webhook retry 1/4 in 20 ms: HTTP 500'],
      ['info', 'ev0', 2, 'webhook retry 2/4 in 40 ms: no answer within 2000 ms'],
      ['info', 'ev2', 1, 'webhook retry 1/4 in 20 ms: HTTP 503'],
    ]);
    expect(sink.retriesMade).toBe(3);
    expect(sink.stats()).toEqual({ published: 7, delivered: 7, dropped: {}, pending: 0 });
    for (const res of hung) res.destroy();
  });

  it('retries exhausted: the event is dropped, counted and logged with its id; the next ones still go', async () => {
    const r = await receiver((_n, req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      res.writeHead(JSON.stringify(req.headers).includes('ev1/0') ? 500 : 200).end();
    });
    servers.push(r.server);
    const logs: Record<string, unknown>[] = [];
    const sink = new WebhookSink({ url: r.url, timeoutMs: 1000, retries: 2, backoffMs: 10, log: (e) => logs.push(e) });
    for (let i = 0; i < 3; i++) sink.publish(event(i));
    await sink.close();
    expect(r.accepted.map((a) => a.body.id)).toEqual(['ev0', 'ev2']);
    expect(sink.stats().dropped).toEqual({ retries_exhausted: 1 });
    expect(logs.filter((l) => l.level === 'warn')).toEqual([expect.objectContaining({ level: 'warn', sink: 'webhook', reason: 'retries_exhausted', event: 'ev1', seq: 0, msg: expect.stringContaining('HTTP 500') })]);
  });

  it('a 4xx answer is not retried: dropped as rejected', async () => {
    const r = await receiver((_n, _req, res) => res.writeHead(400).end());
    servers.push(r.server);
    const logs: Record<string, unknown>[] = [];
    const sink = new WebhookSink({ url: r.url, retries: 5, backoffMs: 10, log: (e) => logs.push(e) });
    sink.publish(event(0));
    await sink.close();
    expect(r.requests()).toBe(1);
    expect(sink.stats().dropped).toEqual({ rejected: 1 });
    expect(logs[0]).toMatchObject({ reason: 'rejected', event: 'ev0' });
  });

  it('a full queue counts and logs each drop; the queued ones arrive in order', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const r = await receiver((_n, _req, res) => void gate.then(() => res.writeHead(200).end()));
    servers.push(r.server);
    const logs: Record<string, unknown>[] = [];
    const sink = new WebhookSink({ url: r.url, timeoutMs: 30_000, queueSize: 3, log: (e) => logs.push(e) });
    for (let i = 0; i < 7; i++) sink.publish(event(i));
    expect(sink.stats()).toEqual({ published: 7, delivered: 0, dropped: { queue_full: 4 }, pending: 3 });
    expect(logs.map((l) => [l.reason, l.event])).toEqual([['queue_full', 'ev3'], ['queue_full', 'ev4'], ['queue_full', 'ev5'], ['queue_full', 'ev6']]);
    release();
    await sink.close();
    expect(r.accepted.map((a) => a.body.id)).toEqual(['ev0', 'ev1', 'ev2']);
    expect(sink.stats()).toMatchObject({ delivered: 3, pending: 0 });
  });

  it('close gives up after closeTimeoutMs on a dead receiver: what was left is counted as closed', async () => {
    const r = await receiver((_n, _req, res) => res.writeHead(500).end());
    servers.push(r.server);
    const logs: Record<string, unknown>[] = [];
    const sink = new WebhookSink({ url: r.url, retries: 20, backoffMs: 50, closeTimeoutMs: 200, log: (e) => logs.push(e) });
    for (let i = 0; i < 3; i++) sink.publish(event(i));
    await sink.close();
    sink.publish(event(9));
    expect(sink.stats()).toEqual({ published: 4, delivered: 0, dropped: { closed: 4 }, pending: 0 });
    expect(logs.filter((l) => l.level === 'warn').map((l) => l.event)).toEqual(['ev0', 'ev1', 'ev2', 'ev9']);
  });

  it('validates its options', () => {
    expect(() => new WebhookSink({ url: 'ftp://x' })).toThrow(TypeError);
    expect(() => new WebhookSink({ url: 'nope' })).toThrow(TypeError);
    expect(() => new WebhookSink({ url: 'http://x', timeoutMs: 10 })).toThrow(RangeError);
    expect(() => new WebhookSink({ url: 'http://x', queueSize: 0 })).toThrow(RangeError);
    expect(() => new WebhookSink({ url: 'http://x', retries: 1.5 })).toThrow(TypeError);
  });
});
