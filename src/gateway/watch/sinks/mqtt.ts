// MQTT through MQTT.js. Topics (prefix default 'ganomaly'):
//   <prefix>/status          'online' / 'offline', retained, QoS 1. 'offline' is the connection's
//                            last will (the broker sends it when the gateway dies or loses the
//                            network) and is also published before a clean close, which suppresses
//                            the will.
//   <prefix>/<camera>/state  {"camera","state","time","reason"?} JSON, retained, QoS 1.
//   <prefix>/<camera>/event  the event message JSON (start/update/end), not retained, QoS `qos` (1).
//
// The client reconnects by itself every reconnectMs. Events published while the broker is away
// wait in MQTT.js's store and are sent on reconnect, up to queueSize unacknowledged messages; past
// that they are dropped, counted and logged, so a dead broker costs bounded memory and never
// blocks scoring. States are not queued: only each camera's latest one matters, and it is
// (re)published on every connect.
import { hostname } from 'node:os';
import mqtt, { type MqttClient } from 'mqtt';
import type { AnomalyEvent } from '../events.js';
import { checkInt, describeEvent, DropCounter, stateMessage, stderrLog, type CameraState, type CameraStateMessage, type EventSink, type SinkStats, type WatchLog } from './sink.js';

export interface MqttSinkOptions {
  /** mqtt://, mqtts://, ws:// or wss:// broker URL. */
  url: string;
  /** Topic prefix. Default 'ganomaly'. */
  prefix?: string;
  /** Default `ganomaly-<hostname>-<pid>`. */
  clientId?: string;
  username?: string;
  password?: string;
  /** QoS of event messages, 0-2. Default 1. */
  qos?: 0 | 1 | 2;
  /** Event messages handed to the client and not yet acknowledged, 1-100000. Default 1000. */
  queueSize?: number;
  /** Delay between reconnect attempts, 100-300000 ms. Default 2000. */
  reconnectMs?: number;
  /** How long one connect attempt may take, 100-120000 ms. Default 10000. */
  connectTimeoutMs?: number;
  /** How long close() waits for the broker to acknowledge what is in flight, 0-600000 ms. Default 5000. */
  closeTimeoutMs?: number;
  log?: WatchLog;
}

export function mqttTopics(prefix: string, camera?: string): { status: string; state: string; event: string } {
  return { status: `${prefix}/status`, state: `${prefix}/${camera ?? '+'}/state`, event: `${prefix}/${camera ?? '+'}/event` };
}

export class MqttSink implements EventSink {
  readonly kind = 'mqtt';
  readonly prefix: string;
  private readonly client: MqttClient;
  private readonly qos: 0 | 1 | 2;
  private readonly queueSize: number;
  private readonly closeTimeoutMs: number;
  private readonly log: WatchLog;
  private readonly drops: DropCounter;
  private readonly states = new Map<string, CameraStateMessage>();
  /** Cameras whose latest state the broker has not acknowledged yet. */
  private readonly stateDirty = new Set<string>();
  private readonly stateInFlight = new Set<string>();
  /** Unacknowledged event messages, by a local sequence number: what to log if they are lost. */
  private readonly inFlight = new Map<number, Record<string, unknown>>();
  private nextSeq = 0;
  /** After close(): late client callbacks no longer count. */
  private finished = false;
  private published = 0;
  private delivered = 0;
  private closed = false;
  private firstConnect: Promise<void>;
  /** Connections made (the first included). */
  connects = 0;

  constructor(opts: MqttSinkOptions) {
    let url: URL;
    try {
      url = new URL(opts.url);
    } catch {
      throw new TypeError(`url must be an MQTT broker URL; got ${String(opts.url)}`);
    }
    if (!['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:', 'ssl:'].includes(url.protocol)) throw new TypeError(`url must be an mqtt(s):// or ws(s):// URL; got ${opts.url}`);
    const prefix = opts.prefix ?? 'ganomaly';
    if (prefix === '' || /[+#\0]/.test(prefix) || prefix.startsWith('/') || prefix.endsWith('/') || prefix.includes('//')) {
      throw new TypeError(`prefix must be topic levels without '+', '#', empty levels or a leading/trailing '/'; got '${prefix}'`);
    }
    this.prefix = prefix;
    this.qos = opts.qos ?? 1;
    if (![0, 1, 2].includes(this.qos)) throw new RangeError(`qos must be 0, 1 or 2; got ${String(opts.qos)}`);
    this.queueSize = checkInt(opts.queueSize ?? 1000, 'queueSize', 1, 100_000);
    const reconnectMs = checkInt(opts.reconnectMs ?? 2000, 'reconnectMs', 100, 300_000);
    const connectTimeoutMs = checkInt(opts.connectTimeoutMs ?? 10_000, 'connectTimeoutMs', 100, 120_000);
    this.closeTimeoutMs = checkInt(opts.closeTimeoutMs ?? 5000, 'closeTimeoutMs', 0, 600_000);
    this.log = opts.log ?? stderrLog;
    this.drops = new DropCounter('mqtt', this.log);
    const status = mqttTopics(prefix).status;
    this.client = mqtt.connect(opts.url, {
      clientId: opts.clientId ?? `ganomaly-${hostname()}-${process.pid}`,
      ...(opts.username !== undefined ? { username: opts.username } : {}),
      ...(opts.password !== undefined ? { password: opts.password } : {}),
      reconnectPeriod: reconnectMs,
      connectTimeout: connectTimeoutMs,
      clean: true,
      // QoS 0 events are not stored while offline: "at most once" is what QoS 0 asked for.
      queueQoSZero: false,
      will: { topic: status, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    let resolveFirst!: () => void;
    this.firstConnect = new Promise((r) => (resolveFirst = r));
    this.client.on('connect', () => {
      this.connects++;
      this.log({ level: 'info', msg: `mqtt connected to ${url.host}`, sink: 'mqtt', connects: this.connects });
      this.client.publish(status, 'online', { qos: 1, retain: true });
      for (const camera of this.states.keys()) this.stateDirty.add(camera);
      this.flushStates();
      resolveFirst();
    });
    this.client.on('offline', () => this.log({ level: 'warn', msg: `mqtt broker ${url.host} unreachable; reconnecting every ${reconnectMs} ms`, sink: 'mqtt' }));
    // MQTT.js emits connection errors here and keeps reconnecting; without a listener they would
    // crash the process.
    this.client.on('error', (e) => this.log({ level: 'warn', msg: `mqtt: ${e.message}`, sink: 'mqtt' }));
  }

  /** Resolves on the first successful connection (readiness probes, tests). */
  ready(): Promise<void> {
    return this.firstConnect;
  }

  get connected(): boolean {
    return this.client.connected;
  }

  publish(event: AnomalyEvent): void {
    this.published++;
    const what = describeEvent(event);
    if (this.closed) return this.drops.drop('closed', what);
    if (this.inFlight.size >= this.queueSize) {
      return this.drops.drop('queue_full', what, `${this.queueSize} messages unacknowledged${this.client.connected ? '' : ', broker unreachable'}`);
    }
    const seq = this.nextSeq++;
    this.inFlight.set(seq, what);
    this.client.publish(mqttTopics(this.prefix, event.camera).event, JSON.stringify(event), { qos: this.qos, retain: false }, (err) => {
      if (this.finished || !this.inFlight.delete(seq)) return;
      if (err) this.drops.drop(this.closed ? 'closed' : 'failed', what, err.message);
      else this.delivered++;
    });
  }

  state(camera: string, state: CameraState, reason?: string): void {
    const m = stateMessage(camera, state, reason);
    this.states.set(camera, m);
    this.stateDirty.add(camera);
    this.flushStates();
  }

  // One state message in flight per camera; a newer state waits for the ack and then goes out.
  private flushStates(): void {
    if (!this.client.connected || this.closed) return;
    for (const camera of [...this.stateDirty]) {
      if (this.stateInFlight.has(camera)) continue;
      this.stateDirty.delete(camera);
      this.stateInFlight.add(camera);
      this.client.publish(mqttTopics(this.prefix, camera).state, JSON.stringify(this.states.get(camera)), { qos: 1, retain: true }, (err) => {
        this.stateInFlight.delete(camera);
        if (err) this.stateDirty.add(camera);
        this.flushStates();
      });
    }
  }

  /**
   * Publishes 'offline' on the status topic (a clean disconnect does not send the will), waits up
   * to closeTimeoutMs for the broker to acknowledge what is in flight, and disconnects. Events not
   * acknowledged by then are counted as dropped ('closed').
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), this.closeTimeoutMs)));
    if (this.client.connected) {
      const done = (async () => {
        await this.client.publishAsync(mqttTopics(this.prefix).status, 'offline', { qos: 1, retain: true });
        await this.client.endAsync(false);
      })().catch((e: unknown) => this.log({ level: 'warn', msg: `mqtt close: ${e instanceof Error ? e.message : String(e)}`, sink: 'mqtt' }));
      if ((await Promise.race([done, deadline])) !== 'timeout') {
        clearTimeout(timer);
        this.finished = true;
        return;
      }
    }
    clearTimeout(timer);
    this.finished = true;
    await this.client.endAsync(true);
    for (const what of this.inFlight.values()) this.drops.drop('closed', what, 'not acknowledged by the broker before close');
    this.inFlight.clear();
  }

  stats(): SinkStats {
    return { published: this.published, delivered: this.delivered, dropped: { ...this.drops.byReason }, pending: this.inFlight.size };
  }
}
