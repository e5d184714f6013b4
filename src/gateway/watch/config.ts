// The `watch` configuration: one YAML file (or a few flags for one camera) turned into a fully
// defaulted, validated object. Every problem in the file is collected, not just the first, and each
// names its field path and line, because an operator fixes a config in one pass, not one error per
// restart. Relative paths resolve against the config file's folder (as docker-compose does), so a
// config means the same thing whatever the working directory of the service.
import { isAbsolute, resolve } from 'node:path';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { displayPath, GanomalyError, isNotFound, readTextFile } from '@ganomaly-edge/runtime/node';
import { bytesFromText, inRange, rangeProblem, WATCH_RANGES, type NumericRange } from '../../option-ranges.js';

/** One problem in a config: where it is and what is wrong. */
export interface ConfigProblem {
  /** Field path, e.g. `cameras[1].fps`. */
  path: string;
  /** 1-based line in the YAML file; undefined for flags or a missing top-level section. */
  line?: number;
  /** The flag the value came from (flags only). */
  flag?: string;
  message: string;
}

/** The watch configuration is invalid; `problems` lists every mistake found, one per line of the message. */
export class WatchConfigError extends GanomalyError {
  override name = 'WatchConfigError';
  readonly code = 'watch_config_invalid';
  constructor(
    readonly problems: readonly ConfigProblem[],
    /** The file, or 'flags'. */
    readonly origin: string,
  ) {
    super(`${origin}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${problems.map(formatProblem).join('\n')}`);
  }
}

/** `<field path> (line L): <what is wrong>`; `(--flag)` instead of the line for flags. */
export function formatProblem(p: ConfigProblem): string {
  const where = p.line !== undefined ? ` (line ${p.line})` : p.flag !== undefined ? ` (${p.flag})` : '';
  return `${p.path}${where}: ${p.message}`;
}

export interface Roi {
  /** Left edge in source pixels, ≥ 0. */
  x: number;
  /** Top edge in source pixels, ≥ 0. */
  y: number;
  /** Width in source pixels, 1-65535. */
  w: number;
  /** Height in source pixels, 1-65535. */
  h: number;
}

export interface CameraConfig {
  /** 1-64 characters of [A-Za-z0-9_-]: it is an MQTT topic level and part of snapshot file names. */
  name: string;
  /** rtsp(s)://, http(s)://, file://, /dev/video*, a video file or a folder of images (paths resolved). */
  source: string;
  /** Sampled frames per second, 0.1-60. Default 5 (Frigate's detect default). */
  fps: number;
  /** Region of the source frame that is scored; default the whole frame. */
  roi?: Roi;
  /** Play a video file source again from the start when it ends. Default false. */
  loop: boolean;
  /** Model folder for this camera; default the top-level model. */
  model?: string;
  /** Raw-score threshold for this camera; default the model manifest's. Finite, ≥ 0. */
  threshold?: number;
}

export type WatchPrecision = 'fp32' | 'fp16' | 'int8';

export interface ModelConfig {
  folder: string;
  /** ONNX Runtime execution providers, tried in order. Default ['cuda', 'cpu']. */
  executionProviders: string[];
  /** Default 'fp32'. */
  precision: WatchPrecision;
}

export interface EventsConfig {
  /** Consecutive frames over the threshold that start an event, 1-1000. Default 3. */
  startFrames: number;
  /** Consecutive frames under the threshold that end it, 1-10000. Default 5. */
  endFrames: number;
  /** At most one periodic `update` per this many frames of an open event, 1-100000. Default 25. */
  updateFrames: number;
  /** A frame counts as over only when its normalised score is also ≥ minScore, 0-1. Default none. */
  minScore?: number;
}

export interface SnapshotsConfig {
  dir: string;
  /** Most snapshot files kept, 1-1000000. Default 1000. */
  maxCount: number;
  /** Most bytes of snapshot files kept, 1 KiB-1 TiB (a number or '500mb'). Default 512 MiB. */
  maxBytes: number;
  /** Oldest snapshot kept, in seconds, 1-31536000 (a year). Default 7 days. */
  maxAgeSeconds: number;
}

export interface WebhookConfig {
  url: string;
  /** Per-request timeout, 100-120000 ms. Default 5000. */
  timeoutMs: number;
  /** Retries after the first attempt, 0-20. Default 5. */
  retries: number;
  /** First retry delay, doubled each retry, 10-60000 ms. Default 500. */
  backoffMs: number;
  /** Messages waiting for delivery, 1-100000. Default 1000. */
  queueSize: number;
}

export interface MqttConfig {
  /** mqtt://, mqtts://, ws:// or wss:// broker URL. */
  url: string;
  /** Topic prefix: no wildcards, no leading or trailing '/'. Default 'ganomaly'. */
  prefix: string;
  /** Default `ganomaly-<hostname>-<pid>`, chosen by the sink. */
  clientId?: string;
  username?: string;
  password?: string;
  /** QoS of event messages, 0-2. Default 1. */
  qos: 0 | 1 | 2;
  /** Messages handed to the client and not yet acknowledged, 1-100000. Default 1000. */
  queueSize: number;
  /** Delay between reconnect attempts, 100-300000 ms. Default 2000. */
  reconnectMs: number;
}

export interface SinksConfig {
  /** 'stdout' or a file path (appended). */
  jsonl?: string;
  webhook?: WebhookConfig;
  mqtt?: MqttConfig;
}

export interface HttpConfig {
  /** Metrics and status port, 0-65535 (0: any free port). Default 8080. */
  port: number;
  /** Port of /healthz and /readyz, 0-65535; null disables the separate health port. Default 8081. */
  healthPort: number | null;
  /** Default '127.0.0.1'. */
  host: string;
}

export interface FfmpegConfig {
  /** The ffmpeg executable; default 'ffmpeg' from PATH. */
  path: string;
  /** Restart ffmpeg when no frame arrived for this long, 1-3600 s. Default 10. */
  stallSeconds: number;
  /** First reconnect delay, doubled per failure up to reconnectMaxMs, 100-600000 ms. Default 1000. */
  reconnectMinMs: number;
  /** Longest reconnect delay, 100-3600000 ms, ≥ reconnectMinMs. Default 30000. */
  reconnectMaxMs: number;
}

export interface WatchConfig {
  cameras: CameraConfig[];
  model: ModelConfig;
  events: EventsConfig;
  /** Absent: no snapshots are written. */
  snapshots?: SnapshotsConfig;
  sinks: SinksConfig;
  http: HttpConfig;
  ffmpeg: FfmpegConfig;
}

export const WATCH_DEFAULTS = {
  fps: 5,
  executionProviders: ['cuda', 'cpu'],
  precision: 'fp32',
  startFrames: 3,
  endFrames: 5,
  updateFrames: 25,
  snapshotMaxCount: 1000,
  snapshotMaxBytes: 512 * 1024 ** 2,
  snapshotMaxAgeSeconds: 7 * 24 * 3600,
  webhookTimeoutMs: 5000,
  webhookRetries: 5,
  webhookBackoffMs: 500,
  queueSize: 1000,
  mqttPrefix: 'ganomaly',
  mqttQos: 1,
  mqttReconnectMs: 2000,
  httpPort: 8080,
  healthPort: 8081,
  httpHost: '127.0.0.1',
  ffmpegPath: 'ffmpeg',
  stallSeconds: 10,
  reconnectMinMs: 1000,
  reconnectMaxMs: 30_000,
} as const;

const CAMERA_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const SOURCE_SCHEMES = ['rtsp:', 'rtsps:', 'http:', 'https:', 'file:'];
const MQTT_SCHEMES = ['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:', 'ssl:'];
const PRECISIONS: readonly WatchPrecision[] = ['fp32', 'fp16', 'int8'];

// Where a path's value came from: a YAML line or a flag. Problems on a missing field point at the
// nearest parent that exists, which is where the operator has to add it.
type Locate = (path: string) => Pick<ConfigProblem, 'line' | 'flag'>;

class Checker {
  readonly problems: ConfigProblem[] = [];
  constructor(
    private readonly locate: Locate,
    private readonly baseDir: string,
  ) {}

  fail(path: string, message: string): undefined {
    this.problems.push({ path: path || '(file)', ...this.locate(path), message });
    return undefined;
  }

  /** A mapping with only the allowed keys; unknown keys are problems (a typo must not pass silently). */
  map(v: unknown, path: string, keys: readonly string[], required = false): Record<string, unknown> | undefined {
    if (v === undefined || v === null) return required ? this.fail(path, 'is required') : undefined;
    if (typeof v !== 'object' || Array.isArray(v)) return this.fail(path, `must be a mapping; got ${describe(v)}`);
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!keys.includes(k)) this.fail(join(path, k), `unknown key (allowed: ${keys.join(', ')})`);
    }
    return o;
  }

  str(v: unknown, path: string, opts: { required?: boolean; nonEmpty?: boolean } = {}): string | undefined {
    if (v === undefined || v === null) return opts.required ? this.fail(path, 'is required') : undefined;
    if (typeof v !== 'string') return this.fail(path, `must be a string; got ${describe(v)}`);
    if ((opts.nonEmpty ?? true) && v.trim() === '') return this.fail(path, 'must not be empty');
    return v;
  }

  /** A number in its range from the table (option-ranges.ts WATCH_RANGES), with the table's message. */
  num(v: unknown, path: string, range: NumericRange, opts: { required?: boolean } = {}): number | undefined {
    if (v === undefined || v === null) return opts.required ? this.fail(path, 'is required') : undefined;
    if (typeof v !== 'number' || !inRange(range, v)) return this.fail(path, rangeProblem(range, v));
    return v;
  }

  bool(v: unknown, path: string): boolean | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') return this.fail(path, `must be true or false; got ${describe(v)}`);
    return v;
  }

  oneOf<T extends string | number>(v: unknown, path: string, allowed: readonly T[]): T | undefined {
    if (v === undefined || v === null) return undefined;
    if (!allowed.includes(v as T)) return this.fail(path, `must be one of ${allowed.join(', ')}; got ${describe(v)}`);
    return v as T;
  }

  /** A byte count: an integer or a size string such as '500mb' (powers of 1024), in its range. */
  bytes(v: unknown, path: string, range: NumericRange): number | undefined {
    if (v === undefined || v === null) return undefined;
    const n = typeof v === 'number' ? v : typeof v === 'string' ? bytesFromText(v) : NaN;
    if (!inRange(range, n)) return this.fail(path, rangeProblem(range, v));
    return n;
  }

  path(v: string): string {
    return isAbsolute(v) ? v : resolve(this.baseDir, v);
  }
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `'${v.length > 60 ? `${v.slice(0, 57)}...` : v}'`;
  return String(v);
}

function checkUrl(c: Checker, v: string | undefined, path: string, schemes: readonly string[]): string | undefined {
  if (v === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return c.fail(path, `is not a URL: '${v}'`);
  }
  if (!schemes.includes(u.protocol)) return c.fail(path, `must be a ${schemes.map((s) => s.slice(0, -1)).join(', ')} URL; got ${u.protocol}`);
  return v;
}

function checkSource(c: Checker, v: string | undefined, path: string): string | undefined {
  if (v === undefined) return undefined;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(v);
  if (!scheme) return c.path(v);
  const url = checkUrl(c, v, path, SOURCE_SCHEMES);
  return url;
}

function checkCamera(c: Checker, v: unknown, path: string): CameraConfig | undefined {
  const o = c.map(v, path, ['name', 'source', 'fps', 'roi', 'loop', 'model', 'threshold'], true);
  if (!o) return undefined;
  const name = c.str(o.name, `${path}.name`, { required: true });
  if (name !== undefined && !CAMERA_NAME.test(name)) {
    c.fail(`${path}.name`, `must be 1-64 characters of letters, digits, '_' and '-' (it is an MQTT topic level and part of file names); got '${name}'`);
  }
  const source = checkSource(c, c.str(o.source, `${path}.source`, { required: true }), `${path}.source`);
  const fps = c.num(o.fps, `${path}.fps`, WATCH_RANGES.fps) ?? WATCH_DEFAULTS.fps;
  let roi: Roi | undefined;
  const r = c.map(o.roi, `${path}.roi`, ['x', 'y', 'w', 'h']);
  if (r) {
    const x = c.num(r.x, `${path}.roi.x`, WATCH_RANGES.roiX, { required: true });
    const y = c.num(r.y, `${path}.roi.y`, WATCH_RANGES.roiY, { required: true });
    const w = c.num(r.w, `${path}.roi.w`, WATCH_RANGES.roiW, { required: true });
    const h = c.num(r.h, `${path}.roi.h`, WATCH_RANGES.roiH, { required: true });
    if (x !== undefined && y !== undefined && w !== undefined && h !== undefined) roi = { x, y, w, h };
  }
  const loop = c.bool(o.loop, `${path}.loop`) ?? false;
  const model = c.str(o.model, `${path}.model`);
  const threshold = c.num(o.threshold, `${path}.threshold`, WATCH_RANGES.threshold);
  if (name === undefined || source === undefined) return undefined;
  return {
    name, source, fps, loop,
    ...(roi ? { roi } : {}),
    ...(model !== undefined ? { model: c.path(model) } : {}),
    ...(threshold !== undefined ? { threshold } : {}),
  };
}

function checkModel(c: Checker, v: unknown): ModelConfig | undefined {
  const o = c.map(v, 'model', ['folder', 'executionProviders', 'precision'], true);
  if (!o) return undefined;
  const folder = c.str(o.folder, 'model.folder', { required: true });
  let executionProviders: string[] = [...WATCH_DEFAULTS.executionProviders];
  if (o.executionProviders !== undefined && o.executionProviders !== null) {
    const list = o.executionProviders;
    if (!Array.isArray(list) || list.length === 0) c.fail('model.executionProviders', `must be a non-empty list of provider names; got ${describe(list)}`);
    else {
      const names = list.map((p, i) => c.str(p, `model.executionProviders[${i}]`));
      if (names.every((n) => n !== undefined)) executionProviders = names as string[];
    }
  }
  const precision = c.oneOf(o.precision, 'model.precision', PRECISIONS) ?? 'fp32';
  if (folder === undefined) return undefined;
  return { folder: c.path(folder), executionProviders, precision };
}

function checkEvents(c: Checker, v: unknown): EventsConfig {
  const o = c.map(v, 'events', ['startFrames', 'endFrames', 'updateFrames', 'minScore']) ?? {};
  const minScore = c.num(o.minScore, 'events.minScore', WATCH_RANGES.minScore);
  return {
    startFrames: c.num(o.startFrames, 'events.startFrames', WATCH_RANGES.startFrames) ?? WATCH_DEFAULTS.startFrames,
    endFrames: c.num(o.endFrames, 'events.endFrames', WATCH_RANGES.endFrames) ?? WATCH_DEFAULTS.endFrames,
    updateFrames: c.num(o.updateFrames, 'events.updateFrames', WATCH_RANGES.updateFrames) ?? WATCH_DEFAULTS.updateFrames,
    ...(minScore !== undefined ? { minScore } : {}),
  };
}

function checkSnapshots(c: Checker, v: unknown): SnapshotsConfig | undefined {
  const o = c.map(v, 'snapshots', ['dir', 'maxCount', 'maxBytes', 'maxAgeSeconds']);
  if (!o) return undefined;
  const dir = c.str(o.dir, 'snapshots.dir', { required: true });
  const maxCount = c.num(o.maxCount, 'snapshots.maxCount', WATCH_RANGES.snapshotMaxCount) ?? WATCH_DEFAULTS.snapshotMaxCount;
  const maxBytes = c.bytes(o.maxBytes, 'snapshots.maxBytes', WATCH_RANGES.snapshotMaxBytes) ?? WATCH_DEFAULTS.snapshotMaxBytes;
  const maxAgeSeconds = c.num(o.maxAgeSeconds, 'snapshots.maxAgeSeconds', WATCH_RANGES.snapshotMaxAgeSeconds) ?? WATCH_DEFAULTS.snapshotMaxAgeSeconds;
  if (dir === undefined) return undefined;
  return { dir: c.path(dir), maxCount, maxBytes, maxAgeSeconds };
}

function checkSinks(c: Checker, v: unknown): SinksConfig {
  const o = c.map(v, 'sinks', ['jsonl', 'webhook', 'mqtt']) ?? {};
  const sinks: SinksConfig = {};
  const jsonl = c.str(o.jsonl, 'sinks.jsonl');
  if (jsonl !== undefined) sinks.jsonl = jsonl === 'stdout' ? 'stdout' : c.path(jsonl);
  const w = c.map(o.webhook, 'sinks.webhook', ['url', 'timeoutMs', 'retries', 'backoffMs', 'queueSize']);
  if (w) {
    const url = checkUrl(c, c.str(w.url, 'sinks.webhook.url', { required: true }), 'sinks.webhook.url', ['http:', 'https:']);
    const webhook: WebhookConfig = {
      url: url ?? '',
      timeoutMs: c.num(w.timeoutMs, 'sinks.webhook.timeoutMs', WATCH_RANGES.webhookTimeoutMs) ?? WATCH_DEFAULTS.webhookTimeoutMs,
      retries: c.num(w.retries, 'sinks.webhook.retries', WATCH_RANGES.webhookRetries) ?? WATCH_DEFAULTS.webhookRetries,
      backoffMs: c.num(w.backoffMs, 'sinks.webhook.backoffMs', WATCH_RANGES.webhookBackoffMs) ?? WATCH_DEFAULTS.webhookBackoffMs,
      queueSize: c.num(w.queueSize, 'sinks.webhook.queueSize', WATCH_RANGES.webhookQueueSize) ?? WATCH_DEFAULTS.queueSize,
    };
    if (url !== undefined) sinks.webhook = webhook;
  }
  const m = c.map(o.mqtt, 'sinks.mqtt', ['url', 'prefix', 'clientId', 'username', 'password', 'qos', 'queueSize', 'reconnectMs']);
  if (m) {
    const url = checkUrl(c, c.str(m.url, 'sinks.mqtt.url', { required: true }), 'sinks.mqtt.url', MQTT_SCHEMES);
    const prefix = c.str(m.prefix, 'sinks.mqtt.prefix') ?? WATCH_DEFAULTS.mqttPrefix;
    if (/[+#\0]/.test(prefix) || prefix.startsWith('/') || prefix.endsWith('/') || prefix.includes('//')) {
      c.fail('sinks.mqtt.prefix', `must be topic levels without '+', '#', empty levels or a leading/trailing '/'; got '${prefix}'`);
    }
    const clientId = c.str(m.clientId, 'sinks.mqtt.clientId');
    const username = c.str(m.username, 'sinks.mqtt.username');
    const password = c.str(m.password, 'sinks.mqtt.password', { nonEmpty: false });
    if (password !== undefined && username === undefined) c.fail('sinks.mqtt.password', 'needs sinks.mqtt.username');
    const mqtt: MqttConfig = {
      url: url ?? '',
      prefix,
      qos: (c.num(m.qos, 'sinks.mqtt.qos', WATCH_RANGES.mqttQos) as 0 | 1 | 2 | undefined) ?? WATCH_DEFAULTS.mqttQos,
      queueSize: c.num(m.queueSize, 'sinks.mqtt.queueSize', WATCH_RANGES.mqttQueueSize) ?? WATCH_DEFAULTS.queueSize,
      reconnectMs: c.num(m.reconnectMs, 'sinks.mqtt.reconnectMs', WATCH_RANGES.mqttReconnectMs) ?? WATCH_DEFAULTS.mqttReconnectMs,
      ...(clientId !== undefined ? { clientId } : {}),
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
    };
    if (url !== undefined) sinks.mqtt = mqtt;
  }
  return sinks;
}

function checkHttp(c: Checker, v: unknown): HttpConfig {
  const o = c.map(v, 'http', ['port', 'healthPort', 'host']) ?? {};
  let healthPort: number | null = WATCH_DEFAULTS.healthPort;
  // `healthPort: null` in YAML (or `false`) is how the separate health port is switched off.
  if (o.healthPort === false || (Object.hasOwn(o, 'healthPort') && o.healthPort === null)) healthPort = null;
  else healthPort = c.num(o.healthPort, 'http.healthPort', WATCH_RANGES.healthPort) ?? healthPort;
  const port = c.num(o.port, 'http.port', WATCH_RANGES.port) ?? WATCH_DEFAULTS.httpPort;
  if (healthPort !== null && healthPort !== 0 && healthPort === port) c.fail('http.healthPort', `must differ from http.port (${port})`);
  return { port, healthPort, host: c.str(o.host, 'http.host') ?? WATCH_DEFAULTS.httpHost };
}

function checkFfmpeg(c: Checker, v: unknown): FfmpegConfig {
  const o = c.map(v, 'ffmpeg', ['path', 'stallSeconds', 'reconnectMinMs', 'reconnectMaxMs']) ?? {};
  const path = c.str(o.path, 'ffmpeg.path');
  const reconnectMinMs = c.num(o.reconnectMinMs, 'ffmpeg.reconnectMinMs', WATCH_RANGES.reconnectMinMs) ?? WATCH_DEFAULTS.reconnectMinMs;
  const reconnectMaxMs = c.num(o.reconnectMaxMs, 'ffmpeg.reconnectMaxMs', WATCH_RANGES.reconnectMaxMs) ?? WATCH_DEFAULTS.reconnectMaxMs;
  if (reconnectMaxMs < reconnectMinMs) c.fail('ffmpeg.reconnectMaxMs', `must be ≥ ffmpeg.reconnectMinMs (${reconnectMinMs}); got ${reconnectMaxMs}`);
  return {
    // A bare name is looked up on PATH; only something that looks like a path is resolved.
    path: path === undefined ? WATCH_DEFAULTS.ffmpegPath : path.includes('/') ? c.path(path) : path,
    stallSeconds: c.num(o.stallSeconds, 'ffmpeg.stallSeconds', WATCH_RANGES.stallSeconds) ?? WATCH_DEFAULTS.stallSeconds,
    reconnectMinMs,
    reconnectMaxMs,
  };
}

function checkConfig(c: Checker, v: unknown): WatchConfig | undefined {
  const o = c.map(v, '', ['cameras', 'model', 'events', 'snapshots', 'sinks', 'http', 'ffmpeg']);
  if (o === undefined) {
    if (v === undefined || v === null) c.fail('(file)', 'is empty: a watch config needs at least cameras: and model:');
    return undefined;
  }
  const cameras: CameraConfig[] = [];
  if (o.cameras === undefined || o.cameras === null) c.fail('cameras', 'is required: a list of at least one camera');
  else if (!Array.isArray(o.cameras) || o.cameras.length === 0) c.fail('cameras', `must be a non-empty list of cameras; got ${describe(o.cameras)}`);
  else {
    const seen = new Map<string, number>();
    o.cameras.forEach((cam, i) => {
      const cc = checkCamera(c, cam, `cameras[${i}]`);
      if (!cc) return;
      const first = seen.get(cc.name);
      if (first !== undefined) c.fail(`cameras[${i}].name`, `'${cc.name}' is already the name of cameras[${first}]`);
      else seen.set(cc.name, i);
      cameras.push(cc);
    });
  }
  const model = checkModel(c, o.model);
  const events = checkEvents(c, o.events);
  const snapshots = checkSnapshots(c, o.snapshots);
  const sinks = checkSinks(c, o.sinks);
  const http = checkHttp(c, o.http);
  const ffmpeg = checkFfmpeg(c, o.ffmpeg);
  if (c.problems.length > 0 || !model) return undefined;
  return { cameras, model, events, ...(snapshots ? { snapshots } : {}), sinks, http, ffmpeg };
}

// Records the line of every mapping key and sequence item, by field path, so that a problem found
// in the plain JS value can name its line.
function indexLines(node: unknown, path: string, lines: Map<string, number>, lc: LineCounter): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const p = join(path, key);
      const at = (pair.key as Node | null)?.range?.[0] ?? (pair.value as Node | null)?.range?.[0];
      if (at !== undefined) lines.set(p, lc.linePos(at).line);
      indexLines(pair.value, p, lines, lc);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const p = `${path}[${i}]`;
      const at = (item as Node | null)?.range?.[0];
      if (at !== undefined) lines.set(p, lc.linePos(at).line);
      indexLines(item, p, lines, lc);
    });
  } else if (isAlias(node)) {
    return;
  }
}

function parentPaths(path: string): string[] {
  const out = [path];
  let p = path;
  while (p !== '') {
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    p = cut < 0 ? '' : p.slice(0, cut);
    if (p !== '') out.push(p);
  }
  return out;
}

export interface ParseOptions {
  /** Relative paths in the file resolve against this folder. Default: the file's own folder, else the working directory. */
  baseDir?: string;
}

/**
 * Parses and validates a watch config (YAML text). `origin` names the file in messages. Throws
 * WatchConfigError listing every problem (YAML syntax errors included), each with its line.
 */
export function parseWatchConfig(text: string, origin = 'watch config', opts: ParseOptions = {}): WatchConfig {
  if (typeof text !== 'string') throw new TypeError(`config text must be a string; got ${typeof text}`);
  const lc = new LineCounter();
  // YAML 1.2 core schema: `yes`/`no`/`on` stay strings, so a boolean field given `yes` is reported
  // instead of silently read as true; unique keys, so a key written twice is reported too.
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, version: '1.2' });
  const syntax: ConfigProblem[] = doc.errors.map((e) => ({
    path: '(yaml)',
    line: e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line,
    message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''),
  }));
  if (syntax.length > 0) throw new WatchConfigError(syntax, origin);
  const lines = new Map<string, number>();
  indexLines(doc.contents, '', lines, lc);
  const locate: Locate = (path) => {
    for (const p of parentPaths(path)) {
      const line = lines.get(p);
      if (line !== undefined) return { line };
    }
    return {};
  };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new WatchConfigError([{ path: '(yaml)', message: e instanceof Error ? e.message : String(e) }], origin);
  }
  const baseDir = opts.baseDir ?? process.cwd();
  const c = new Checker(locate, baseDir);
  const config = checkConfig(c, value);
  if (!config) throw new WatchConfigError(c.problems, origin);
  return config;
}

/** A watch config is a few KB of YAML; a bigger file is refused before it is read or parsed. */
export const MAX_WATCH_CONFIG_BYTES = 1024 * 1024;

/** Reads and parses a config file; relative paths in it resolve against the file's folder. */
export async function loadWatchConfig(file: string): Promise<WatchConfig> {
  const { dirname } = await import('node:path');
  let text: string;
  try {
    text = await readTextFile(file, MAX_WATCH_CONFIG_BYTES, 'the file');
  } catch (e) {
    const reason = isNotFound(e) ? 'no such file' : e instanceof Error ? e.message : String(e);
    throw new WatchConfigError([{ path: '(file)', message: `cannot read ${displayPath(file)}: ${reason}` }], displayPath(file));
  }
  return parseWatchConfig(text, file, { baseDir: dirname(resolve(file)) });
}

/** Single-camera flags, as the CLI gets them (strings); each maps to one config field. */
export interface WatchFlags {
  source?: string;
  model?: string;
  name?: string;
  fps?: string;
  roi?: string;
  loop?: boolean;
  threshold?: string;
  executionProviders?: string;
  precision?: string;
  startFrames?: string;
  endFrames?: string;
  updateFrames?: string;
  minScore?: string;
  snapshots?: string;
  jsonl?: string;
  webhook?: string;
  mqtt?: string;
  mqttPrefix?: string;
  port?: string;
  healthPort?: string;
  host?: string;
  ffmpeg?: string;
}

// Field path ← flag, for building the config and for naming the flag in a problem.
const FLAG_FIELDS: readonly [keyof WatchFlags, string, 'string' | 'number' | 'list' | 'roi' | 'boolean'][] = [
  ['name', 'cameras[0].name', 'string'],
  ['source', 'cameras[0].source', 'string'],
  ['fps', 'cameras[0].fps', 'number'],
  ['roi', 'cameras[0].roi', 'roi'],
  ['loop', 'cameras[0].loop', 'boolean'],
  ['threshold', 'cameras[0].threshold', 'number'],
  ['model', 'model.folder', 'string'],
  ['executionProviders', 'model.executionProviders', 'list'],
  ['precision', 'model.precision', 'string'],
  ['startFrames', 'events.startFrames', 'number'],
  ['endFrames', 'events.endFrames', 'number'],
  ['updateFrames', 'events.updateFrames', 'number'],
  ['minScore', 'events.minScore', 'number'],
  ['snapshots', 'snapshots.dir', 'string'],
  ['jsonl', 'sinks.jsonl', 'string'],
  ['webhook', 'sinks.webhook.url', 'string'],
  ['mqtt', 'sinks.mqtt.url', 'string'],
  ['mqttPrefix', 'sinks.mqtt.prefix', 'string'],
  ['port', 'http.port', 'number'],
  ['healthPort', 'http.healthPort', 'number'],
  ['host', 'http.host', 'string'],
  ['ffmpeg', 'ffmpeg.path', 'string'],
];

function kebab(flag: string): string {
  return `--${flag.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`)}`;
}

/**
 * Builds the same config from single-camera flags (`--source`, `--model`, `--fps`, …), validated by
 * the same rules; problems name the flag. Camera name defaults to 'camera'; with no sink given,
 * events go to stdout as JSON lines. `--roi` is `x,y,w,h`; `--execution-providers` is comma-separated.
 */
export function watchConfigFromFlags(flags: WatchFlags, opts: ParseOptions = {}): WatchConfig {
  if (typeof flags !== 'object' || flags === null) throw new TypeError('flags must be an object');
  const raw: Record<string, unknown> = {};
  const set = (path: string, value: unknown): void => {
    const parts = path.replace(/\[0\]/g, '.0').split('.');
    let o: Record<string, unknown> = raw;
    for (const [i, k] of parts.slice(0, -1).entries()) {
      const next = parts[i + 1]!;
      o[k] ??= next === '0' ? [] : {};
      o = o[k] as Record<string, unknown>;
    }
    o[parts.at(-1)!] = value;
  };
  set('cameras[0].name', 'camera');
  const flagOf = new Map<string, string>();
  for (const [flag, path, kind] of FLAG_FIELDS) {
    const v = flags[flag];
    flagOf.set(path, kebab(flag));
    if (v === undefined) continue;
    if (kind === 'boolean') set(path, v);
    else if (typeof v !== 'string') set(path, v);
    else if (kind === 'number') set(path, v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : v);
    else if (kind === 'list') set(path, v.split(',').map((s) => s.trim()).filter((s) => s !== ''));
    else if (kind === 'roi') {
      const n = v.split(',').map((s) => Number(s.trim()));
      set(path, n.length === 4 && n.every(Number.isFinite) ? { x: n[0], y: n[1], w: n[2], h: n[3] } : v);
    } else set(path, v);
  }
  if (flags.jsonl === undefined && flags.webhook === undefined && flags.mqtt === undefined) set('sinks.jsonl', 'stdout');
  const locate: Locate = (path) => {
    for (const p of parentPaths(path)) {
      const flag = flagOf.get(p);
      if (flag !== undefined) return { flag };
    }
    if (path.startsWith('cameras')) return { flag: '--source' };
    if (path.startsWith('model')) return { flag: '--model' };
    return {};
  };
  const c = new Checker(locate, opts.baseDir ?? process.cwd());
  const config = checkConfig(c, raw);
  if (!config) throw new WatchConfigError(c.problems, 'flags');
  return config;
}
