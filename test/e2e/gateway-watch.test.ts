// `watch` end to end with real processes: ffmpeg makes a video at test time from the prebuilt
// model's own samples (a normal item, then the held-out class for a known run of frames, then
// normal again); the gateway reads it through ffmpeg, scores it with the prebuilt model and
// publishes. The event must start and end at the frames where the anomaly was drawn, its snapshot
// must show it, the metrics must count every frame, and MQTT (a real mosquitto) must carry the
// same event, the retained camera state and the online status. The CLI process ends its open
// event on SIGTERM and exits 0.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDetector } from '../../src/runtime/node.js';
import { parseWatchConfig } from '../../src/gateway/watch/config.js';
import type { AnomalyEvent } from '../../src/gateway/watch/events.js';
import { startWatch } from '../../src/gateway/watch/watch.js';
import { freePort, mosquittoPath, startMosquitto, type Broker } from '../helpers/mosquitto.js';

const REQUIRED = process.env.GANOMALY_REQUIRE_GATEWAY === '1';
const HAVE_FFMPEG = spawnSync('sh', ['-c', 'command -v ffmpeg'], { encoding: 'utf8' }).stdout.trim() !== '';
const HAVE_MOSQUITTO = mosquittoPath() !== undefined;
const MODEL = 'models/fashion-mnist-trouser';
const SAMPLES = join(MODEL, 'samples');
const SIDE = 112; // 28-pixel items drawn 4× larger, as a camera would see them
/** Frames 1-8 normal, 9-16 the anomaly, 17-26 normal (the gateway numbers frames from 1). */
const RUNS = [{ n: 8, abnormal: false }, { n: 8, abnormal: true }, { n: 10, abnormal: false }];
const FIRST_ABNORMAL = 9;
const LAST_ABNORMAL = 16;

async function upscaled(file: string): Promise<Buffer> {
  return sharp(file).greyscale().resize(SIDE, SIDE, { kernel: 'nearest' }).raw().toBuffer();
}

/** The clearest pair of samples for this model: the lowest-scoring normal and the highest-scoring abnormal one. */
async function pickSamples(): Promise<{ normal: string; abnormal: string }> {
  const files = JSON.parse(await readFile(join(SAMPLES, 'samples.json'), 'utf8')).samples as { file: string; label: string }[];
  const d = await createDetector({ model: MODEL, executionProviders: ['cpu'], logger: null });
  try {
    const scored = await Promise.all(files.map(async (f) => ({ ...f, r: await d.score({ data: await upscaled(join(SAMPLES, f.file)), width: SIDE, height: SIDE, channels: 1 }) })));
    const normal = scored.filter((s) => s.label === 'normal' && !s.r.isAnomaly).sort((a, b) => a.r.score - b.r.score)[0]!;
    const abnormal = scored.filter((s) => s.label === 'abnormal' && s.r.isAnomaly).sort((a, b) => b.r.score - a.r.score)[0]!;
    return { normal: join(SAMPLES, normal.file), abnormal: join(SAMPLES, abnormal.file) };
  } finally {
    await d.dispose();
  }
}

async function makeVideo(file: string, normal: string, abnormal: string): Promise<void> {
  const frames = { normal: await upscaled(normal), abnormal: await upscaled(abnormal) };
  const ff = spawn('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'gray', '-s', `${SIDE}x${SIDE}`, '-r', '5', '-i', '-', '-c:v', 'ffv1', '-pix_fmt', 'gray', file], { stdio: ['pipe', 'ignore', 'inherit'] });
  for (const run of RUNS) for (let i = 0; i < run.n; i++) ff.stdin.write(run.abnormal ? frames.abnormal : frames.normal);
  ff.stdin.end();
  const [code] = await once(ff, 'exit');
  expect(code).toBe(0);
}

async function until<T>(what: string, f: () => T | Promise<T>, timeoutMs = 60_000): Promise<NonNullable<T>> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v) return v as NonNullable<T>;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const lines = async (file: string) => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe.skipIf(!(HAVE_FFMPEG && HAVE_MOSQUITTO) && !REQUIRED)('watch: a video file in, events out', () => {
  let work: string;
  let video: string;
  let broker: Broker;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    if (!HAVE_FFMPEG || !HAVE_MOSQUITTO) throw new Error('GANOMALY_REQUIRE_GATEWAY=1 but ffmpeg or mosquitto is missing (apt-get install ffmpeg mosquitto)');
    work = await mkdtemp(join(tmpdir(), 'ganomaly-watch-'));
    video = join(work, 'line.mkv');
    const { normal, abnormal } = await pickSamples();
    await makeVideo(video, normal, abnormal);
    broker = await startMosquitto();
  }, 120_000);

  afterAll(async () => {
    for (const c of cleanups) await c();
    await broker?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('one event from the first to the last anomalous frame, with a snapshot, metrics and MQTT messages', async () => {
    const events = join(work, 'events.jsonl');
    const snaps = join(work, 'snaps');
    const received: { topic: string; payload: string; retain: boolean }[] = [];
    const sub = await mqtt.connectAsync(broker.url, { clientId: 'test-sub' });
    await sub.subscribeAsync('gw/#', { qos: 1 });
    sub.on('message', (topic, payload, packet) => received.push({ topic, payload: payload.toString(), retain: packet.retain }));
    const config = parseWatchConfig(`
cameras:
  - name: line
    source: ${video}
    fps: 5
    roi: {x: 0, y: 0, w: ${SIDE}, h: ${SIDE}}
model: {folder: ${MODEL}, executionProviders: [cpu]}
events: {startFrames: 3, endFrames: 3}
snapshots: {dir: ${snaps}, maxCount: 10, maxBytes: 10mb, maxAgeSeconds: 3600}
sinks:
  jsonl: ${events}
  mqtt: {url: ${broker.url}, prefix: gw}
http: {port: 0, healthPort: 0}
`, 'test.yaml', { baseDir: process.cwd() });
    const logs: Record<string, unknown>[] = [];
    const watch = await startWatch(config, { log: (e) => logs.push(e) });
    try {
      expect((await fetch(`${watch.healthUrl}/healthz`)).status).toBe(200);
      // The file is read at its native 5 fps and not looped: the camera ends after its last frame.
      await until('the end of the video', () => watch.cameras()[0]!.state === 'ended', 60_000);
      const cam = watch.cameras()[0]!;
      expect(cam.framesReceived).toBe(26);
      expect(cam.framesScored + cam.framesDropped).toBe(26);
      const got = (await lines(events)).filter((l) => l.type !== 'state') as unknown as AnomalyEvent[];
      expect(new Set(got.map((e) => e.id)).size).toBe(1);
      const start = got.find((e) => e.type === 'start')!;
      const end = got.find((e) => e.type === 'end')!;
      expect(start.startFrame).toBe(FIRST_ABNORMAL);
      expect(end).toMatchObject({ endFrame: LAST_ABNORMAL, reason: 'recovered', framesOver: LAST_ABNORMAL - FIRST_ABNORMAL + 1 });
      expect(end.peakScore).toBeGreaterThan(end.threshold);
      // The snapshot: a JPEG of the frame with the heatmap over it.
      expect(typeof start.snapshot).toBe('string');
      const meta = await sharp(start.snapshot!).metadata();
      expect(meta.format).toBe('jpeg');
      expect(existsSync(start.snapshot!)).toBe(true);
      const metrics = await (await fetch(`${watch.url}/metrics`)).text();
      expect(metrics).toMatch(/ganomaly_watch_frames_received_total\{camera="line"\} 26/);
      expect(metrics).toMatch(new RegExp(`ganomaly_watch_frames_scored_total\\{camera="line"\\} ${cam.framesScored}`));
      expect(metrics).toMatch(/ganomaly_watch_events_total\{camera="line",type="start"\} 1/);
      expect(metrics).toMatch(/ganomaly_watch_frame_to_result_seconds_count\{camera="line"\}/);
      // MQTT: the same event at QoS 1, the camera's state retained, the gateway online.
      await until('the MQTT end event', () => received.some((m) => m.topic === 'gw/line/event' && JSON.parse(m.payload).type === 'end'), 10_000);
      const mqttEvents = received.filter((m) => m.topic === 'gw/line/event').map((m) => JSON.parse(m.payload) as AnomalyEvent);
      expect(mqttEvents.map((e) => e.type)).toEqual(got.map((e) => e.type));
      expect(mqttEvents[0]!.id).toBe(start.id);
      expect(received.find((m) => m.topic === 'gw/status')?.payload).toBe('online');
      expect(received.filter((m) => m.topic === 'gw/line/state').map((m) => JSON.parse(m.payload).state)).toContain('streaming');
    } finally {
      await watch.close();
      await sub.endAsync();
    }
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
  }, 120_000);

  it('a dead camera goes offline with its reason while the other keeps scoring; a model folder swapped in place is reloaded', async () => {
    const model = join(work, 'model');
    await cp(MODEL, model, { recursive: true });
    const dead = await freePort(); // nothing listens there
    const config = parseWatchConfig(`
cameras:
  - {name: good, source: ${video}, loop: true, fps: 5, roi: {x: 0, y: 0, w: ${SIDE}, h: ${SIDE}}}
  - {name: dead, source: "rtsp://127.0.0.1:${dead}/cam", fps: 5}
model: {folder: ${model}, executionProviders: [cpu]}
sinks: {jsonl: ${join(work, 'events-2.jsonl')}}
http: {port: 0, healthPort: null}
ffmpeg: {reconnectMinMs: 200, reconnectMaxMs: 1000}
`, 'test.yaml', { baseDir: process.cwd() });
    const logs: Record<string, unknown>[] = [];
    const watch = await startWatch(config, { log: (e) => logs.push(e), modelPollMs: 200 });
    try {
      expect(watch.healthUrl).toBeNull();
      const byName = () => Object.fromEntries(watch.cameras().map((c) => [c.name, c]));
      await until('the dead camera offline and the good one scoring', () => byName().dead!.state === 'offline' && byName().good!.framesScored > 3);
      expect(byName().dead!.reason).toMatch(/Connection refused/);
      expect(byName().dead!.reason!.split('\n')).toHaveLength(1);
      // export's atomic swap: a new folder renamed over the old one.
      await cp(MODEL, `${model}.new`, { recursive: true });
      await rename(model, `${model}.old`);
      await rename(`${model}.new`, model);
      await until('the model reload', () => logs.some((l) => l.msg === 'model reloaded'));
      const after = byName().good!.framesScored;
      await until('scoring after the reload', () => byName().good!.framesScored > after + 3);
      expect(await (await fetch(`${watch.url}/metrics`)).text()).toMatch(/ganomaly_watch_model_reloads_total 1/);
      expect(byName().dead!.restarts).toBeGreaterThan(0);
      const ready = (await (await fetch(`${watch.url}/readyz`)).json()) as { cameras: number; streaming: number };
      expect(ready).toMatchObject({ cameras: 2, streaming: 1 });
    } finally {
      await watch.close();
    }
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
  }, 120_000);

  it('the CLI: one camera from flags, events as JSON lines on stdout; SIGTERM ends the open event and exits 0', async () => {
    const port = await freePort();
    // The gateway's CLI from the sources, bundled for a child process (the runtime from source too),
    // inside the repository so that its bare imports (mqtt, yaml, onnxruntime-node) resolve.
    await mkdir('.tmp', { recursive: true });
    const cliDir = await mkdtemp(join('.tmp', 'gateway-watch-'));
    const cli = join(cliDir, 'index.mjs');
    const { build } = await import('esbuild');
    await build({ entryPoints: ['src/gateway/cli/index.ts'], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: cli, logLevel: 'silent',
      alias: { '@ganomaly-edge/runtime/node': './src/runtime/node.ts', '@ganomaly-edge/runtime': './src/runtime/node.ts' } });
    cleanups.push(() => rm(cliDir, { recursive: true, force: true }));
    const child = spawn(process.execPath, [cli, 'watch', '--source', video, '--loop', '--model', MODEL, '--roi', `0,0,${SIDE},${SIDE}`,
      '--execution-providers', 'cpu', '--start-frames', '3', '--end-frames', '3', '--port', String(port), '--health-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    try {
      await until('an event start on stdout', () => out.includes('"type":"start"'), 60_000);
      // Stopped right after the start, while the anomaly is still on screen (five more frames):
      // the open event ends with reason "shutdown".
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = await exited;
      expect(code, err).toBe(0);
      const evs = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; reason?: string; id?: string });
      const last = evs.filter((e) => e.type !== 'state').at(-1)!;
      expect(last.type).toBe('end');
      expect(last.reason).toBe('shutdown');
      const logLines = err.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string });
      expect(logLines.map((l) => l.msg)).toEqual(expect.arrayContaining(['watching', 'stopping', 'stopped']));
    } finally {
      child.kill('SIGKILL');
    }
  }, 120_000);
});
