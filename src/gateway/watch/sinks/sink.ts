// What every event sink (JSON lines, webhook, MQTT) offers the watch loop. publish() and state()
// return at once: a slow or dead consumer must never hold up scoring, so each sink queues within a
// bound of its own and counts (and logs) what it could not deliver instead of blocking.
import type { AnomalyEvent } from '../events.js';

/** A camera's input state, as the input side reports it. */
export type CameraState = 'connecting' | 'streaming' | 'stalled' | 'offline';
export const CAMERA_STATES: readonly CameraState[] = ['connecting', 'streaming', 'stalled', 'offline'];

/** The state message the sinks publish (JSON lines and webhook add `type: 'state'`). */
export interface CameraStateMessage {
  camera: string;
  state: CameraState;
  /** ISO 8601. */
  time: string;
  /** Why, for stalled/offline (e.g. "no frame for 10 s", "ffmpeg exited 1: Connection refused"). */
  reason?: string;
}

/** Structured log lines (the serve logger's shape: one JSON object per line). */
export type WatchLog = (entry: Record<string, unknown> & { msg: string; level?: 'info' | 'warn' | 'error' }) => void;

export interface SinkStats {
  /** Messages accepted by publish()/state(). */
  published: number;
  /** Messages the consumer confirmed (written, 2xx, PUBACK). */
  delivered: number;
  /** Messages given up on, by reason (queue_full, retries_exhausted, rejected, closed, …); each was logged. */
  dropped: Record<string, number>;
  /** Messages accepted and not yet delivered or dropped. */
  pending: number;
}

export interface EventSink {
  readonly kind: string;
  /** Queues an event message; never throws for delivery problems, never waits. */
  publish(event: AnomalyEvent): void;
  /** Reports a camera's state (published retained where the transport has retention). */
  state(camera: string, state: CameraState, reason?: string): void;
  /** Delivers what is queued (within the sink's own deadline), then releases its resources. */
  close(): Promise<void>;
  stats(): SinkStats;
}

export function stateMessage(camera: string, state: CameraState, reason?: string, time = Date.now()): CameraStateMessage {
  if (typeof camera !== 'string' || camera === '') throw new TypeError('camera must be a non-empty string');
  if (!CAMERA_STATES.includes(state)) throw new TypeError(`state must be one of ${CAMERA_STATES.join(', ')}; got ${String(state)}`);
  return { camera, state, time: new Date(time).toISOString(), ...(reason !== undefined ? { reason } : {}) };
}

/** Counts drops by reason and logs each with the message it concerns. */
export class DropCounter {
  readonly byReason: Record<string, number> = {};
  constructor(
    private readonly kind: string,
    private readonly log: WatchLog,
  ) {}

  drop(reason: string, what: Record<string, unknown>, detail?: string): void {
    this.byReason[reason] = (this.byReason[reason] ?? 0) + 1;
    this.log({ level: 'warn', msg: `${this.kind} sink dropped a message: ${reason}${detail ? ` (${detail})` : ''}`, sink: this.kind, reason, ...what });
  }

  get total(): number {
    return Object.values(this.byReason).reduce((a, b) => a + b, 0);
  }
}

/** Identifies a message in logs: the event id and seq, or the camera state. */
export function describeEvent(e: AnomalyEvent): Record<string, unknown> {
  return { event: e.id, seq: e.seq, type: e.type, camera: e.camera };
}

export const stderrLog: WatchLog = (entry) => {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'info', ...entry })}\n`);
};

export function checkInt(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`${name} must be an integer; got ${String(v)}`);
  if (v < min || v > max) throw new RangeError(`${name} must be from ${min} to ${max}; got ${v}`);
  return v;
}
