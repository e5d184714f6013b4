// The MQTT sink against a real mosquitto broker started here (Debian `mosquitto`). Skipped only when
// mosquitto is absent, unless GANOMALY_REQUIRE_GATEWAY=1.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AnomalyEvent } from '../../src/gateway/watch/events.js';
import { MqttSink } from '../../src/gateway/watch/sinks/mqtt.js';
import { freePort, mosquittoPath, startMosquitto, type Broker } from '../helpers/mosquitto.js';

const have = mosquittoPath() !== undefined;
if (!have && process.env.GANOMALY_REQUIRE_GATEWAY === '1') throw new Error('GANOMALY_REQUIRE_GATEWAY=1 but mosquitto is not installed (apt-get install mosquitto)');

interface Message {
  topic: string;
  payload: string;
  retain: boolean;
  qos: number;
}

/** A subscriber that records every message, with its retain flag as delivered. */
async function subscriber(url: string, topics: string[]): Promise<{ client: MqttClient; messages: Message[]; waitFor(pred: (m: Message[]) => boolean, what: string): Promise<void> }> {
  const client = await mqtt.connectAsync(url, { clientId: `test-sub-${process.pid}-${Math.random().toString(16).slice(2)}`, reconnectPeriod: 0 });
  const messages: Message[] = [];
  const waiters: (() => void)[] = [];
  client.on('message', (topic, payload, packet) => {
    messages.push({ topic, payload: payload.toString(), retain: packet.retain, qos: packet.qos });
    for (const w of waiters.splice(0)) w();
  });
  await client.subscribeAsync(topics, { qos: 1 });
  return {
    client,
    messages,
    waitFor: (pred, what) =>
      new Promise<void>((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`timed out waiting for ${what}; got ${JSON.stringify(messages)}`)), 20_000);
        const check = () => {
          if (pred(messages)) {
            clearTimeout(timer);
            res();
          } else waiters.push(check);
        };
        check();
      }),
  };
}

function event(i: number, camera = 'cam1'): AnomalyEvent {
  const t = new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
  return {
    type: 'start', id: `ev${i}`, seq: 0, camera, startTime: t, startFrame: i, endTime: null, endFrame: null, time: t, frame: i,
    peakScore: 2, peakNormalized: 1, peakTime: t, peakFrame: i, peakBox: null, framesOver: 3, threshold: 1, snapshot: `/snaps/${i}.jpg`,
  };
}

const noLog = () => undefined;

describe.skipIf(!have)('MqttSink (real mosquitto broker)', () => {
  let broker: Broker;
  const cleanup: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('events at QoS 1 not retained, camera state retained, status online on connect and offline on close', async () => {
    const prefix = 'gw-a';
    const sub = await subscriber(broker.url, [`${prefix}/#`]);
    cleanup.push(() => sub.client.endAsync());
    const sink = new MqttSink({ url: broker.url, prefix, clientId: 'gw-a', log: noLog });
    await sink.ready();
    sink.state('cam1', 'streaming');
    sink.publish(event(1));
    sink.publish(event(2, 'cam2'));
    await sub.waitFor((m) => m.filter((x) => x.topic.endsWith('/event')).length === 2 && m.some((x) => x.topic.endsWith('/state')), 'events and state');
    const status = sub.messages.filter((m) => m.topic === `${prefix}/status`);
    expect(status.map((m) => m.payload)).toEqual(['online']);
    const events = sub.messages.filter((m) => m.topic.endsWith('/event'));
    expect(events.map((m) => [m.topic, m.qos, m.retain])).toEqual([[`${prefix}/cam1/event`, 1, false], [`${prefix}/cam2/event`, 1, false]]);
    expect(JSON.parse(events[0]!.payload)).toEqual(event(1));
    const state = sub.messages.find((m) => m.topic === `${prefix}/cam1/state`)!;
    expect(JSON.parse(state.payload)).toMatchObject({ camera: 'cam1', state: 'streaming' });

    // A subscriber arriving later gets the retained state and status, and no event (not retained).
    const late = await subscriber(broker.url, [`${prefix}/#`]);
    cleanup.push(() => late.client.endAsync());
    await late.waitFor((m) => m.length >= 2, 'retained messages');
    expect(late.messages.map((m) => [m.topic, m.retain]).sort()).toEqual([[`${prefix}/cam1/state`, true], [`${prefix}/status`, true]]);
    expect(JSON.parse(late.messages.find((m) => m.topic.endsWith('/state'))!.payload).state).toBe('streaming');

    sink.state('cam1', 'offline', 'ffmpeg exited 1');
    await sink.close();
    await sub.waitFor((m) => m.some((x) => x.topic === `${prefix}/status` && x.payload === 'offline'), 'status offline');
    const last = sub.messages.filter((m) => m.topic === `${prefix}/cam1/state`).at(-1)!;
    expect(JSON.parse(last.payload)).toMatchObject({ state: 'offline', reason: 'ffmpeg exited 1' });
    expect(sink.stats()).toEqual({ published: 2, delivered: 2, dropped: {}, pending: 0 }); // close() waited for the PUBACKs
    // And the retained status is now offline for anyone who looks.
    const after = await subscriber(broker.url, [`${prefix}/status`]);
    cleanup.push(() => after.client.endAsync());
    await after.waitFor((m) => m.length >= 1, 'retained status');
    expect(after.messages[0]).toMatchObject({ payload: 'offline', retain: true });
  });

  it('the last will: a publisher killed with SIGKILL leaves status offline, seen by a subscriber', async () => {
    const prefix = 'gw-will';
    await mkdir('.tmp', { recursive: true });
    const dir = await mkdtemp(join('.tmp', 'mqtt-will-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    // The real sink, bundled as users get it, in a child process that can be killed outright.
    await build({ entryPoints: { sink: 'src/gateway/watch/sinks/mqtt.ts' }, bundle: true, format: 'esm', platform: 'node', packages: 'external', outdir: dir, logLevel: 'silent' });
    const script = join(dir, 'child.mjs');
    await writeFile(script, `
      import { MqttSink } from ${JSON.stringify(resolve(dir, 'sink.js'))};
      const sink = new MqttSink({ url: process.argv[2], prefix: ${JSON.stringify(prefix)}, clientId: 'gw-will', log: () => {} });
      await sink.ready();
      sink.state('cam1', 'streaming');
      sink.publish(${JSON.stringify(event(7))});
      const t = setInterval(() => { if (sink.stats().delivered === 1) { clearInterval(t); process.stdout.write('published\\n'); } }, 20);
      setInterval(() => {}, 1000);
    `);
    const sub = await subscriber(broker.url, [`${prefix}/#`]);
    cleanup.push(() => sub.client.endAsync());
    const child = spawn(process.execPath, [script, broker.url], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanup.push(async () => void (child.exitCode === null && child.kill('SIGKILL')));
    await new Promise<void>((res, rej) => {
      child.stdout!.on('data', (d: Buffer) => d.toString().includes('published') && res());
      child.once('exit', (code) => rej(new Error(`publisher exited early (${code})`)));
    });
    await sub.waitFor((m) => m.some((x) => x.topic === `${prefix}/status` && x.payload === 'online') && m.some((x) => x.topic.endsWith('/event')), 'online and the event');
    expect(sub.messages.some((m) => m.payload === 'offline')).toBe(false);
    process.kill(child.pid!, 'SIGKILL');
    await sub.waitFor((m) => m.some((x) => x.topic === `${prefix}/status` && x.payload === 'offline'), 'the last will');
    const will = sub.messages.find((m) => m.payload === 'offline')!;
    expect(will.topic).toBe(`${prefix}/status`);
    // Retained by the broker: a new subscriber sees offline.
    const after = await subscriber(broker.url, [`${prefix}/status`]);
    cleanup.push(() => after.client.endAsync());
    await after.waitFor((m) => m.length >= 1, 'retained will');
    expect(after.messages[0]).toMatchObject({ payload: 'offline', retain: true });
  });

  it('a broker that is down: publish never blocks, the in-flight queue is bounded with drops counted, and the sink reconnects and delivers when it comes up', async () => {
    // The sink reaches the broker through a TCP relay on its own port, so the test decides when
    // the broker becomes reachable for the sink: after the subscriber is listening. Before the
    // relay listens the port refuses connections, as a broker that is down does.
    const port = await freePort();
    const relay = createServer((sock) => {
      const up = createConnection({ port: broker.port, host: '127.0.0.1' });
      sock.pipe(up).pipe(sock);
      const end = () => (sock.destroy(), up.destroy());
      sock.on('error', end).on('close', end);
      up.on('error', end).on('close', end);
    });
    cleanup.push(() => new Promise((r) => relay.close(r)));
    const logs: Record<string, unknown>[] = [];
    const sink = new MqttSink({ url: `mqtt://127.0.0.1:${port}`, prefix: 'gw-down', clientId: 'gw-down', queueSize: 3, reconnectMs: 200, connectTimeoutMs: 1000, log: (e) => logs.push(e) });
    cleanup.push(() => sink.close());
    sink.state('cam1', 'connecting');
    sink.state('cam1', 'streaming');
    for (let i = 0; i < 5; i++) sink.publish(event(i));
    expect(sink.connected).toBe(false);
    expect(sink.stats()).toEqual({ published: 5, delivered: 0, dropped: { queue_full: 2 }, pending: 3 });
    expect(logs.filter((l) => l.reason === 'queue_full').map((l) => l.event)).toEqual(['ev3', 'ev4']);
    await new Promise((r) => setTimeout(r, 600)); // a few refused reconnect attempts

    const sub = await subscriber(broker.url, ['gw-down/#']);
    cleanup.push(() => sub.client.endAsync());
    await new Promise<void>((r) => relay.listen(port, '127.0.0.1', r));
    await sink.ready();
    await sub.waitFor((m) => m.filter((x) => x.topic.endsWith('/event')).length === 3 && m.some((x) => x.topic.endsWith('/state')), 'queued events after reconnect');
    expect(sub.messages.filter((m) => m.topic.endsWith('/event')).map((m) => JSON.parse(m.payload).id)).toEqual(['ev0', 'ev1', 'ev2']);
    // Only the latest state, published on connect.
    expect(sub.messages.filter((m) => m.topic.endsWith('/state')).map((m) => JSON.parse(m.payload).state)).toEqual(['streaming']);
    expect(sub.messages.filter((m) => m.topic === 'gw-down/status').map((m) => m.payload)).toEqual(['online']);
    await expect.poll(() => sink.stats(), { timeout: 10_000 }).toMatchObject({ delivered: 3, pending: 0 });

    // The broker itself stops and comes back on the same port: the sink reconnects, says online
    // again and republishes its retained state (the restarted broker kept nothing).
    await broker.stop();
    broker = await startMosquitto(broker.port);
    const sub2 = await subscriber(broker.url, ['gw-down/#']);
    cleanup.push(() => sub2.client.endAsync());
    await sub2.waitFor((m) => m.some((x) => x.topic === 'gw-down/status' && x.payload === 'online') && m.some((x) => x.topic.endsWith('/state')), 'online and state after the broker restarted');
    expect(sink.connects).toBe(2);
    sink.publish(event(9));
    await sub2.waitFor((m) => m.some((x) => x.topic.endsWith('/event')), 'an event after reconnect');
    expect(JSON.parse(sub2.messages.find((m) => m.topic.endsWith('/event'))!.payload).id).toBe('ev9');
    // The subscriber can see the message before the sink has the broker's PUBACK.
    await expect.poll(() => sink.stats(), { timeout: 10_000 }).toEqual({ published: 6, delivered: 4, dropped: { queue_full: 2 }, pending: 0 });
  });

  it('validates its options', () => {
    expect(() => new MqttSink({ url: 'http://x' })).toThrow(TypeError);
    expect(() => new MqttSink({ url: 'mqtt://127.0.0.1:1', prefix: 'a/+' })).toThrow(TypeError);
    expect(() => new MqttSink({ url: 'mqtt://127.0.0.1:1', queueSize: 0 })).toThrow(RangeError);
    expect(() => new MqttSink({ url: 'mqtt://127.0.0.1:1', qos: 3 as never })).toThrow(RangeError);
  });
});
