// `watch` as a library call: one process, many cameras. Each camera's frames (ffmpeg or a folder,
// camera.ts / folder-source.ts) are scored by the one detector of its model — cameras that share a
// model share its ONNX Runtime session, and the detector batches their concurrent calls — then go
// through the camera's event tracker (hysteresis) to snapshots and sinks. A camera scores one frame
// at a time: frames that arrive meanwhile replace each other in the source and are counted as
// dropped, never queued. Metrics, /healthz and /readyz are served on the HTTP port; a model folder
// replaced in place (export's atomic swap) is loaded and swapped in without a restart.
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { createDetector, type NodeDetector, type ScoreResult } from '@ganomaly-edge/runtime/node';
import { Counter, Gauge, Histogram, LATENCY_BUCKETS_S, PROMETHEUS_CONTENT_TYPE, Registry } from '../serve/metrics.js';
import { startHealthListener, type HealthListener } from '../serve/health-listener.js';
import { Camera } from './camera.js';
import type { CameraConfig, WatchConfig } from './config.js';
import { EventTracker, type AnomalyEvent } from './events.js';
import { findFfmpeg, sourceKind } from './ffmpeg.js';
import { FolderSource } from './folder-source.js';
import { SnapshotStore } from './snapshots.js';
import { createSinks } from './sinks/create.js';
import { stderrLog, type CameraState, type EventSink, type WatchLog } from './sinks/sink.js';
import type { Frame, FrameSource, SourceState } from './source.js';

/** Longest side of the frames a camera delivers (the scored region, scaled): what snapshots show. */
export const VIEW_SIZE = 320;
/** Seconds over which the fps gauges are measured. */
const FPS_WINDOW = 10;
/** How often a model folder is checked for an in-place replacement. */
export const MODEL_POLL_MS = 2000;

export interface WatchOptions {
  log?: WatchLog;
  /** Model poll interval in ms, 100-600000 (default MODEL_POLL_MS). */
  modelPollMs?: number;
  /** Called after each scored frame with the time from the frame reaching the gateway to its score (bench/gateway.ts). */
  onFrameScored?: (camera: string, frameToResultMs: number) => void;
}

export interface CameraStatus {
  name: string;
  state: SourceState | 'idle';
  reason: string | null;
  framesReceived: number;
  framesDropped: number;
  framesScored: number;
  restarts: number;
  events: number;
  lastScore: number | null;
  /** The camera's ffmpeg process, while one runs (folder sources: null). */
  pid: number | null;
}

export interface RunningWatch {
  /** The HTTP port's URL (/metrics, /healthz, /readyz, /cameras). */
  url: string;
  /** The health port's URL, or null when it is off. */
  healthUrl: string | null;
  cameras(): CameraStatus[];
  /** Ends open events (reason 'shutdown'), stops every camera, flushes and closes the sinks. Idempotent. */
  close(): Promise<void>;
}

/** The frame size a camera delivers: the region of interest (or 4:3 without one), longest side VIEW_SIZE. */
export function viewSize(cam: CameraConfig): { width: number; height: number } {
  const w = cam.roi?.w ?? 4;
  const h = cam.roi?.h ?? 3;
  const s = VIEW_SIZE / Math.max(w, h);
  return { width: Math.max(2, Math.round((w * s) / 2) * 2), height: Math.max(2, Math.round((h * s) / 2) * 2) };
}

interface ModelSlot {
  folder: string;
  detector: NodeDetector;
  /** manifest.json's identity when loaded: an export's swap gives the folder a new inode. */
  stamp: string;
  reloading: boolean;
}

async function folderStamp(folder: string): Promise<string> {
  const [d, m] = await Promise.all([stat(folder), stat(path.join(folder, 'manifest.json'))]);
  return `${d.ino}:${m.ino}:${m.mtimeMs}:${m.size}`;
}

const SOURCE_TO_SINK_STATE: Partial<Record<SourceState | 'idle', CameraState>> = {
  connecting: 'connecting', streaming: 'streaming', stalled: 'stalled', offline: 'offline', ended: 'offline', stopped: 'offline',
};

export async function startWatch(config: WatchConfig, opts: WatchOptions = {}): Promise<RunningWatch> {
  const log = opts.log ?? stderrLog;
  const pollMs = opts.modelPollMs ?? MODEL_POLL_MS;
  if (!Number.isInteger(pollMs) || pollMs < 100 || pollMs > 600_000) throw new RangeError(`modelPollMs must be an integer from 100 to 600000; got ${pollMs}`);

  // Folder cameras need no ffmpeg; every other source does, and its absence is one line at start.
  const isFolder = new Map<string, boolean>();
  for (const cam of config.cameras) isFolder.set(cam.name, await stat(cam.source).then((s) => s.isDirectory(), () => false));
  // A bare name ('ffmpeg', the default) is looked up on PATH; anything with a slash is a path.
  const configured = config.ffmpeg.path.includes(path.sep) ? config.ffmpeg.path : undefined;
  const ffmpegPath = [...isFolder.values()].some((f) => !f) ? await findFfmpeg(configured) : undefined;

  const models = new Map<string, ModelSlot>();
  const modelOf = (cam: CameraConfig) => cam.model ?? config.model.folder;
  const cleanup: (() => Promise<unknown>)[] = [];
  const fail = async (e: unknown): Promise<never> => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
    throw e;
  };
  const loadModel = (folder: string) => createDetector({
    model: folder, executionProviders: config.model.executionProviders, precision: config.model.precision, logger: null,
  });
  try {
    for (const folder of new Set(config.cameras.map(modelOf))) {
      const slot: ModelSlot = { folder, detector: await loadModel(folder), stamp: '', reloading: false };
      // Disposes whichever detector the slot holds at close: a reload may have swapped it.
      cleanup.push(() => slot.detector.dispose());
      slot.stamp = await folderStamp(folder);
      models.set(folder, slot);
    }
  } catch (e) {
    return fail(e);
  }
  const store = config.snapshots ? await SnapshotStore.open(config.snapshots).catch(fail) : null;
  const sinks: EventSink[] = createSinks(config.sinks, log);
  cleanup.push(async () => Promise.all(sinks.map((s) => s.close())));

  const registry = new Registry();
  const scored = registry.add(new Counter('ganomaly_watch_frames_scored_total', 'Frames scored, per camera.'));
  const events = registry.add(new Counter('ganomaly_watch_events_total', 'Anomaly event messages (start, update, end), per camera.'));
  const scoreErrors = registry.add(new Counter('ganomaly_watch_score_errors_total', 'Frames whose scoring failed, per camera.'));
  const latency = registry.add(new Histogram('ganomaly_watch_frame_to_result_seconds', 'From a frame reaching the gateway to its score, per camera.', LATENCY_BUCKETS_S));
  const reloads = registry.add(new Counter('ganomaly_watch_model_reloads_total', 'Model folders replaced in place and loaded.'));

  interface Cam {
    cfg: CameraConfig;
    source: FrameSource;
    tracker: EventTracker;
    modelFolder: string;
    scored: number;
    events: number;
    lastScore: number | null;
    done: Promise<void>;
  }
  const cams: Cam[] = [];
  const fromStats = (pick: (c: Cam) => number) => () => cams.map((c) => ({ labels: { camera: c.cfg.name }, value: pick(c) }));
  registry.add(new Gauge('ganomaly_watch_frames_received_total', 'Frames received from the source, per camera (a counter read at scrape time).', fromStats((c) => c.source.stats.framesReceived)));
  registry.add(new Gauge('ganomaly_watch_frames_dropped_total', 'Frames replaced by a newer one while the camera was still scoring (a counter read at scrape time).', fromStats((c) => c.source.stats.framesDropped)));
  registry.add(new Gauge('ganomaly_watch_source_restarts_total', 'ffmpeg restarts after stalls and reconnects (a counter read at scrape time).', fromStats((c) => c.source.stats.restarts)));
  registry.add(new Gauge('ganomaly_watch_camera_up', 'Whether the camera is streaming (1) or not (0).', fromStats((c) => (c.source.state === 'streaming' ? 1 : 0))));
  // Rates over the last FPS_WINDOW seconds, as Frigate shows camera_fps: counters sampled each second.
  const history: { t: number; received: number[]; scored: number[] }[] = [];
  const sampler = setInterval(() => {
    history.push({ t: performance.now(), received: cams.map((c) => c.source.stats.framesReceived), scored: cams.map((c) => c.scored) });
    if (history.length > FPS_WINDOW + 1) history.shift();
  }, 1000);
  sampler.unref();
  const rate = (pick: 'received' | 'scored') => () => {
    const first = history[0];
    const last = history.at(-1);
    return cams.map((c, i) => ({
      labels: { camera: c.cfg.name },
      value: first && last && last.t > first.t ? ((last[pick][i]! - first[pick][i]!) * 1000) / (last.t - first.t) : 0,
    }));
  };
  registry.add(new Gauge('ganomaly_watch_camera_fps', `Frames per second received from the camera over the last ${FPS_WINDOW} s.`, rate('received')));
  registry.add(new Gauge('ganomaly_watch_scored_fps', `Frames per second scored over the last ${FPS_WINDOW} s.`, rate('scored')));
  registry.add(new Gauge('ganomaly_watch_sink_dropped_total', 'Messages a sink dropped, by sink and reason (a counter read at scrape time).',
    () => sinks.flatMap((s) => Object.entries(s.stats().dropped).map(([reason, n]) => ({ labels: { sink: s.kind, reason }, value: n })))));

  const publish = (e: AnomalyEvent) => {
    events.inc({ camera: e.camera, type: e.type });
    for (const s of sinks) s.publish(e);
  };

  const scoreFrame = async (cam: Cam, frame: Frame): Promise<void> => {
    const slot = models.get(cam.modelFolder)!;
    let r: ScoreResult;
    try {
      r = await slot.detector.score(frame, { outputs: ['anomalyMap'] });
    } catch (e) {
      scoreErrors.inc({ camera: cam.cfg.name });
      log({ level: 'warn', msg: 'score failed', camera: cam.cfg.name, error: e instanceof Error ? e.message : String(e) });
      return;
    }
    const ms = Date.now() - frame.timestamp;
    latency.observe(ms / 1000, { camera: cam.cfg.name });
    opts.onFrameScored?.(cam.cfg.name, ms);
    scored.inc({ camera: cam.cfg.name });
    cam.scored++;
    cam.lastScore = r.score;
    const threshold = cam.cfg.threshold ?? r.threshold;
    const t = cam.tracker.observe({ index: frame.seq, time: frame.timestamp, score: r.score, normalized: r.normalized, isAnomaly: r.score > threshold, threshold, ...(r.worstTile ? { box: r.worstTile.box } : {}) });
    if (!t) return;
    let event = t.event;
    if (t.snapshot && store) {
      try {
        const file = await store.write({ camera: cam.cfg.name, eventId: event.id, time: frame.timestamp, frame, anomalyMap: r.anomalyMap });
        cam.tracker.setSnapshot(event.id, file.path);
        event = { ...event, snapshot: file.path };
      } catch (e) {
        log({ level: 'warn', msg: 'snapshot failed', camera: cam.cfg.name, event: event.id, error: e instanceof Error ? e.message : String(e) });
      }
    }
    cam.events++;
    publish(event);
  };

  const makeSource = (cfg: CameraConfig): FrameSource => {
    const slot = models.get(modelOf(cfg))!;
    // A patch model with a fixed frame gets its frames at that size: ffmpeg scales once, not twice.
    const tiled = slot.detector.tiling;
    const size = tiled && tiled.frame !== 'any' ? { ...tiled.frame } : viewSize(cfg);
    const pixelFormat = slot.detector.manifest.model.nc === 1 ? 'gray' as const : 'rgb24' as const;
    const roi = cfg.roi ? { x: cfg.roi.x, y: cfg.roi.y, width: cfg.roi.w, height: cfg.roi.h } : undefined;
    if (isFolder.get(cfg.name)) return new FolderSource({ id: cfg.name, folder: cfg.source, roi, ...size, pixelFormat });
    return new Camera({
      // A video file stands in for a camera: read at its native rate, as a camera delivers frames.
      id: cfg.name, source: cfg.source, fps: cfg.fps, roi, loop: cfg.loop, realtime: sourceKind(cfg.source) === 'file', ...size, pixelFormat, ffmpegPath,
      stallTimeoutMs: Math.max(config.ffmpeg.stallSeconds * 1000, Math.ceil(2000 / cfg.fps) + 100),
      backoff: { baseMs: config.ffmpeg.reconnectMinMs, maxMs: config.ffmpeg.reconnectMaxMs },
    });
  };

  for (const cfg of config.cameras) {
    const source = makeSource(cfg);
    const cam: Cam = {
      cfg, source, modelFolder: modelOf(cfg), scored: 0, events: 0, lastScore: null, done: Promise.resolve(),
      tracker: new EventTracker({ camera: cfg.name, ...config.events }),
    };
    source.on('state', (c: { state: SourceState; reason?: string | null }) => {
      const state = SOURCE_TO_SINK_STATE[c.state];
      if (state) for (const s of sinks) s.state(cfg.name, state, c.reason ?? undefined);
      log({ level: c.state === 'offline' || c.state === 'stalled' ? 'warn' : 'info', msg: `camera ${c.state}`, camera: cfg.name, ...(c.reason ? { reason: c.reason } : {}) });
      // A camera that stops delivering ends its open event: the anomaly can no longer be seen.
      if (c.state === 'offline' || c.state === 'stalled' || c.state === 'ended') {
        const ended = cam.tracker.close('offline', Date.now());
        if (ended) publish(ended);
      }
    });
    cams.push(cam);
  }
  for (const cam of cams) {
    cam.source.start();
    cam.done = (async () => {
      for await (const frame of cam.source.frames()) await scoreFrame(cam, frame);
    })().catch((e: unknown) => log({ level: 'error', msg: 'camera loop failed', camera: cam.cfg.name, error: e instanceof Error ? e.message : String(e) }));
  }

  let closing = false;
  // In-place model replacement: a changed folder is loaded beside the old detector and swapped in
  // only once it loads; a broken replacement is logged and the old model keeps scoring.
  const poll = setInterval(() => {
    for (const slot of models.values()) {
      if (slot.reloading) continue;
      slot.reloading = true;
      void (async () => {
        const stamp = await folderStamp(slot.folder).catch(() => slot.stamp);
        if (stamp === slot.stamp) return;
        const next = await loadModel(slot.folder);
        if (closing) {
          await next.dispose();
          return;
        }
        const old = slot.detector;
        slot.detector = next;
        slot.stamp = stamp;
        reloads.inc();
        log({ msg: 'model reloaded', model: slot.folder, name: next.manifest.name, createdAt: next.manifest.createdAt });
        await old.dispose();
      })().catch((e: unknown) => log({ level: 'warn', msg: 'model reload failed; the loaded model keeps scoring', model: slot.folder, error: e instanceof Error ? e.message : String(e) }))
        .finally(() => (slot.reloading = false));
    }
  }, pollMs);
  poll.unref();

  const status = (): CameraStatus[] => cams.map((c) => ({
    name: c.cfg.name, state: c.source.state, reason: c.source.stats.reason, framesReceived: c.source.stats.framesReceived,
    framesDropped: c.source.stats.framesDropped, framesScored: c.scored, restarts: c.source.stats.restarts, events: c.events, lastScore: c.lastScore,
    pid: c.source instanceof Camera ? c.source.pid : null,
  }));

  const server: Server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const send = (code: number, body: string, type = 'application/json') => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, JSON.stringify({ error: 'method_not_allowed' }));
    if (url === '/metrics') return send(200, registry.render(), PROMETHEUS_CONTENT_TYPE);
    if (url === '/healthz') return send(200, JSON.stringify({ status: 'ok' }));
    if (url === '/readyz') {
      const streaming = cams.filter((c) => c.source.state === 'streaming').length;
      return send(closing ? 503 : 200, JSON.stringify({ status: closing ? 'draining' : 'ready', cameras: cams.length, streaming }));
    }
    if (url === '/cameras') return send(200, JSON.stringify(status()));
    send(404, JSON.stringify({ error: 'not_found' }));
  });
  server.headersTimeout = 5000;
  server.requestTimeout = 5000;
  server.maxConnections = 128;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.http.port, config.http.host, () => resolve());
  }).catch(async (e: Error) => {
    clearInterval(poll);
    clearInterval(sampler);
    await Promise.all(cams.map((c) => c.source.stop()));
    return fail(new Error(`cannot listen on ${config.http.host}:${config.http.port}: ${e.message}`));
  });
  const address = server.address() as { port: number };
  let health: HealthListener | null = null;
  if (config.http.healthPort !== null) {
    health = await startHealthListener(config.http.host, config.http.healthPort).catch(async (e: unknown) => {
      clearInterval(poll);
      clearInterval(sampler);
      await Promise.all(cams.map((c) => c.source.stop()));
      await new Promise((r) => server.close(r));
      return fail(e);
    });
    health.setState('ready');
  }
  const host = config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host;

  let closed: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    healthUrl: health ? `http://${host}:${health.port}` : null,
    cameras: status,
    close() {
      closed ??= (async () => {
        closing = true;
        health?.setState('draining');
        clearInterval(poll);
        clearInterval(sampler);
        await Promise.all(cams.map((c) => c.source.stop()));
        await Promise.all(cams.map((c) => c.done));
        for (const cam of cams) {
          const ended = cam.tracker.close('shutdown', Date.now());
          if (ended) publish(ended);
        }
        for (const c of cleanup.reverse()) await c().catch((e: unknown) => log({ level: 'warn', msg: 'close failed', error: e instanceof Error ? e.message : String(e) }));
        await health?.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      })();
      return closed;
    },
  };
}
