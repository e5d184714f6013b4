// Anomaly events for one camera, with hysteresis: a single noisy frame neither starts nor ends an
// event, so a flickering score gives one event instead of a storm of them. Pure state machine (no
// I/O, no clock): the caller feeds scored frames and publishes what comes back, so every edge case
// is testable frame by frame.
//
// Lifecycle (per camera):
// - `start`: at the N-th consecutive frame over the threshold (N = startFrames). The event's start is
//   the FIRST of those N frames, so start frame/time say when the anomaly appeared, not when it was
//   confirmed.
// - `update`: while the event is open, on a frame that raises the peak score (the snapshot is worth
//   replacing), or when `updateFrames` frames have passed since the event's last message (a
//   heartbeat for dashboards); at most one message per frame. A score rising frame after frame thus
//   sends one update per frame, bounded by the camera's fps.
// - `end`: at the M-th consecutive frame under the threshold (M = endFrames), reason 'recovered';
//   or when the camera goes offline ('offline') or the process stops ('shutdown'). The event's end
//   is the LAST frame that was over, so start..end spans the anomaly itself.
// Frames under the threshold inside an open event (fewer than M in a row) do not end it; frames over
// the threshold before the N-th (fewer than N in a row) start nothing.
import { randomUUID } from 'node:crypto';
import { checkOptionalRange, WATCH_RANGES } from '../../option-ranges.js';

/** What the events need from one scored frame (a runtime ScoreResult has all but index and time). */
export interface ScoredFrame {
  /** Frame number within the camera's stream; strictly increasing (gaps are allowed: dropped frames). */
  index: number;
  /** Capture time, milliseconds since the epoch. */
  time: number;
  score: number;
  normalized: number;
  /** score > threshold, as the detector decided with the camera's threshold. */
  isAnomaly: boolean;
  threshold: number;
  /** Patch models: the worst tile's square in the frame's pixels. */
  box?: { x: number; y: number; width: number; height: number };
}

export type EventType = 'start' | 'update' | 'end';
export type EndReason = 'recovered' | 'offline' | 'shutdown';

/** One message of an event's lifecycle; published as JSON as is. */
export interface AnomalyEvent {
  type: EventType;
  /** Same for every message of one event. */
  id: string;
  /** 0 for `start`, then +1 per message: (id, seq) identifies a message (idempotency key). */
  seq: number;
  camera: string;
  /** ISO 8601 time and frame index of the first frame over the threshold. */
  startTime: string;
  startFrame: number;
  /** Last frame over the threshold: set on `end`, null before. */
  endTime: string | null;
  endFrame: number | null;
  /** Time and frame of the frame that produced this message. */
  time: string;
  frame: number;
  peakScore: number;
  peakNormalized: number;
  peakTime: string;
  peakFrame: number;
  /** Patch models: where in the peak frame the worst tile was (frame pixels); null for whole-image models. */
  peakBox: { x: number; y: number; width: number; height: number } | null;
  /** Frames over the threshold since the start (the N confirming frames included). */
  framesOver: number;
  /** The camera threshold when the event started. */
  threshold: number;
  /** Path of the event's latest snapshot, null until one is written. */
  snapshot: string | null;
  /** `end` only. */
  reason?: EndReason;
}

/** What a frame produced: the message to publish, and whether to write a snapshot of this frame first. */
export interface EventTransition {
  event: AnomalyEvent;
  /** True on `start` and on a new peak: the frame shows the anomaly at its worst so far. */
  snapshot: boolean;
}

export interface EventTrackerOptions {
  camera: string;
  /** 1-1000. Default 3. */
  startFrames?: number;
  /** 1-10000. Default 5. */
  endFrames?: number;
  /** 1-100000. Default 25. */
  updateFrames?: number;
  /** Normalised score a frame over the threshold must also reach to count, 0-1. Default none. */
  minScore?: number;
  /** Event ids; default random UUIDs. */
  newId?: () => string;
}

interface Open {
  id: string;
  seq: number;
  start: ScoredFrame;
  lastOver: ScoredFrame;
  peak: ScoredFrame;
  framesOver: number;
  threshold: number;
  snapshot: string | null;
  /** Frame index of the last message sent. */
  lastMessageFrame: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** The event state machine of one camera. */
export class EventTracker {
  readonly camera: string;
  readonly startFrames: number;
  readonly endFrames: number;
  readonly updateFrames: number;
  readonly minScore: number | undefined;
  private readonly newId: () => string;
  /** Consecutive over frames before a start (the first one kept: it becomes the start). */
  private pending: ScoredFrame[] = [];
  private underRun = 0;
  private open: Open | undefined;
  private lastIndex = -Infinity;

  constructor(opts: EventTrackerOptions) {
    if (typeof opts?.camera !== 'string' || opts.camera === '') throw new TypeError('camera must be a non-empty string');
    this.camera = opts.camera;
    const R = WATCH_RANGES;
    this.startFrames = checkOptionalRange(R.startFrames, opts.startFrames, 'startFrames') ?? 3;
    this.endFrames = checkOptionalRange(R.endFrames, opts.endFrames, 'endFrames') ?? 5;
    this.updateFrames = checkOptionalRange(R.updateFrames, opts.updateFrames, 'updateFrames') ?? 25;
    this.minScore = checkOptionalRange(R.minScore, opts.minScore, 'minScore');
    this.newId = opts.newId ?? randomUUID;
  }

  /** The open event's id, if any. */
  get openEventId(): string | undefined {
    return this.open?.id;
  }

  /** Feeds one scored frame; returns the message it produced, or null. */
  observe(f: ScoredFrame): EventTransition | null {
    if (!Number.isInteger(f.index) || f.index <= this.lastIndex) {
      throw new RangeError(`frame index must be an integer above the previous one (${this.lastIndex}); got ${f.index}`);
    }
    if (!Number.isFinite(f.time)) throw new TypeError(`frame time must be finite milliseconds; got ${f.time}`);
    this.lastIndex = f.index;
    const over = f.isAnomaly && (this.minScore === undefined || f.normalized >= this.minScore);
    const o = this.open;
    if (!o) {
      if (!over) {
        this.pending = [];
        return null;
      }
      this.pending.push(f);
      if (this.pending.length < this.startFrames) return null;
      const peak = this.pending.reduce((a, b) => (b.score > a.score ? b : a));
      this.open = {
        id: this.newId(), seq: 0, start: this.pending[0]!, lastOver: f, peak,
        framesOver: this.pending.length, threshold: this.pending[0]!.threshold, snapshot: null, lastMessageFrame: f.index,
      };
      this.pending = [];
      this.underRun = 0;
      return { event: this.message('start', f), snapshot: true };
    }
    if (over) {
      this.underRun = 0;
      o.framesOver++;
      o.lastOver = f;
      if (f.score > o.peak.score) {
        o.peak = f;
        return this.update(f, true);
      }
    } else if (++this.underRun >= this.endFrames) {
      return { event: this.finish('recovered', f), snapshot: false };
    }
    if (f.index - o.lastMessageFrame >= this.updateFrames) return this.update(f, false);
    return null;
  }

  /** Records where the open event's snapshot was written; later messages carry it. */
  setSnapshot(eventId: string, path: string): void {
    if (this.open && this.open.id === eventId) this.open.snapshot = path;
  }

  /**
   * Ends the open event (camera offline, process stopping) and forgets frames counted towards a
   * start, so a camera that comes back starts counting afresh (frame indices may restart too).
   * `time` is when it happened (ms).
   */
  close(reason: Exclude<EndReason, 'recovered'>, time: number): AnomalyEvent | null {
    this.pending = [];
    this.underRun = 0;
    // A restarted input may number its frames from 0 again.
    this.lastIndex = -Infinity;
    if (!this.open) return null;
    return this.finish(reason, { ...this.open.lastOver, time });
  }

  private update(f: ScoredFrame, snapshot: boolean): EventTransition {
    return { event: this.message('update', f), snapshot };
  }

  private finish(reason: EndReason, at: ScoredFrame): AnomalyEvent {
    const e = this.message('end', at);
    e.endTime = iso(this.open!.lastOver.time);
    e.endFrame = this.open!.lastOver.index;
    e.reason = reason;
    this.open = undefined;
    this.underRun = 0;
    return e;
  }

  private message(type: EventType, at: ScoredFrame): AnomalyEvent {
    const o = this.open!;
    const seq = type === 'start' ? 0 : ++o.seq;
    o.lastMessageFrame = at.index;
    return {
      type, id: o.id, seq, camera: this.camera,
      startTime: iso(o.start.time), startFrame: o.start.index,
      endTime: null, endFrame: null,
      time: iso(at.time), frame: at.index,
      peakScore: o.peak.score, peakNormalized: o.peak.normalized, peakTime: iso(o.peak.time), peakFrame: o.peak.index, peakBox: o.peak.box ?? null,
      framesOver: o.framesOver, threshold: o.threshold, snapshot: o.snapshot,
    };
  }
}
