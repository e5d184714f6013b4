// One camera: an ffmpeg process supervised like Frigate does it. A watchdog restarts ffmpeg when
// frames stop, failures reconnect with exponential backoff, and the consumer pulls frames, so a slow
// scorer costs dropped frames (counted), never memory.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { GanomalyError } from '@ganomaly-edge/runtime/node';
import { backoffDelay, backoffOptions, type BackoffOptions } from './backoff.js';
import {
  channelsOf,
  checkFps,
  checkInt,
  DEFAULT_FPS,
  ffmpegArgs,
  findFfmpeg,
  frameBytes,
  sourceKind,
  type FfmpegInputOptions,
  type FrameFormat,
  type SourceKind,
} from './ffmpeg.js';
import { FrameReader } from './frames.js';
import type { Frame, FrameSource, SourceState, SourceStats, StateChange } from './source.js';

/** ffmpeg exited, failed to start, or gave no first frame in time; `message` is one line. */
export class CameraSourceError extends GanomalyError {
  override name = 'CameraSourceError';
  readonly code = 'camera_source_failed';
}

/** No frame arrived for `stallTimeoutMs` while streaming. */
export class CameraStallError extends GanomalyError {
  override name = 'CameraStallError';
  readonly code = 'camera_stalled';
}

export interface CameraOptions extends FfmpegInputOptions {
  /** Name of the camera in events, logs and metrics: 1-64 characters of [A-Za-z0-9_.-]. */
  id: string;
  /** The ffmpeg executable. Default: `ffmpeg` on PATH. */
  ffmpegPath?: string;
  /**
   * Streaming with no frame for this long (ms) is a stall: ffmpeg is killed and started again.
   * 100-600000, and more than one sampling period (1000 / fps). Default max(10000, 3000 / fps).
   */
  stallTimeoutMs?: number;
  /**
   * Time (ms) from starting ffmpeg to its first frame (connecting, probing, the first key frame),
   * 100-600000. Default max(20000, stallTimeoutMs).
   */
  startTimeoutMs?: number;
  /** Reconnect delays after failures (see {@link backoffDelay}). */
  backoff?: BackoffOptions;
  /** stop() sends SIGTERM, then SIGKILL after this many ms, 0-60000. Default 2000. */
  killGraceMs?: number;
  /** ffmpeg stderr lines kept for `stderrTail` and the offline reason, 1-1000. Default 20. */
  stderrLines?: number;
}

export interface CameraEvents {
  state: [StateChange];
}

const MAX_LINE = 1000;
const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const MAX_REASON = 500;
// CSI sequences (colours, cursor moves) and the lone control characters a terminal would eat.
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]/g;
const CONTROL = /[\x00-\x1f\x7f]/g;

/** One printable line: ANSI sequences and control characters removed, ffmpeg's context pointers dropped. */
export function cleanLine(line: string): string {
  return line
    .replace(ANSI, '')
    .replace(CONTROL, ' ')
    .replace(/ @ 0x[0-9a-f]+\]/gi, ']') // "[tcp @ 0x55…]": the address changes every run
    .trim();
}

/**
 * A camera read through ffmpeg. Call start(), pull frames with `for await (const f of
 * camera.frames())`, listen to 'state' events, and stop() it. It never holds more than the newest
 * frame the consumer has not taken: a frame that arrives while the previous one is still waiting
 * replaces it, and the replaced one is counted in `framesDropped`.
 */
export class Camera extends EventEmitter<CameraEvents> implements FrameSource {
  readonly id: string;
  readonly kind: SourceKind;
  readonly format: Readonly<FrameFormat>;
  readonly fps: number;
  readonly stallTimeoutMs: number;
  readonly startTimeoutMs: number;
  private readonly input: FfmpegInputOptions;
  private readonly ffmpegPath: string | undefined;
  private readonly args: string[];
  private readonly backoff: Required<BackoffOptions>;
  private readonly killGraceMs: number;
  private readonly stderrMax: number;

  private current: SourceState | 'idle' = 'idle';
  private currentReason: string | null = null;
  private child: ChildProcess | null = null;
  /** Resolves when the current child has closed all its pipes and been reaped. */
  private childClosed: Promise<void> = Promise.resolve();
  private generation = 0;
  private spawned = 0;
  private failures = 0;
  private killedForStall = false;
  private watchdog: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopping: Promise<void> | null = null;
  private stderr: string[] = [];
  private counts = { framesReceived: 0, framesDropped: 0, restarts: 0, lastFrameAt: null as number | null };

  private slot: Frame | null = null;
  private waiter: ((r: IteratorResult<Frame>) => void) | null = null;
  private iterating = false;

  constructor(options: CameraOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw new TypeError('Camera needs an options object');
    if (typeof options.id !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(options.id)) {
      throw new TypeError(`camera id must be 1-64 characters of A-Z a-z 0-9 _ . -; got ${JSON.stringify(options.id)}`);
    }
    this.id = options.id;
    this.kind = sourceKind(options.source);
    this.fps = checkFps(options.fps ?? DEFAULT_FPS);
    this.input = { ...options, fps: this.fps };
    this.ffmpegPath = options.ffmpegPath;
    this.args = ffmpegArgs(this.input); // validates size, format, roi, timeouts, loop
    this.format = Object.freeze({ width: options.width, height: options.height, pixelFormat: options.pixelFormat });
    const period = 1000 / this.fps;
    this.stallTimeoutMs = checkInt('stallTimeoutMs', options.stallTimeoutMs ?? Math.max(10_000, Math.ceil(3 * period)), 100, 600_000);
    if (this.stallTimeoutMs <= period) {
      throw new RangeError(`stallTimeoutMs (${this.stallTimeoutMs}) must be longer than one sampling period at ${this.fps} fps (${Math.ceil(period)} ms)`);
    }
    this.startTimeoutMs = checkInt('startTimeoutMs', options.startTimeoutMs ?? Math.max(20_000, this.stallTimeoutMs), 100, 600_000);
    this.backoff = backoffOptions(options.backoff);
    this.killGraceMs = checkInt('killGraceMs', options.killGraceMs ?? 2000, 0, 60_000);
    this.stderrMax = checkInt('stderrLines', options.stderrLines ?? 20, 1, 1000);
    if (options.ffmpegPath !== undefined && (typeof options.ffmpegPath !== 'string' || options.ffmpegPath === '')) {
      throw new TypeError('ffmpegPath must be a non-empty string');
    }
  }

  get state(): SourceState | 'idle' {
    return this.current;
  }

  /** Why the camera is stalled or offline (one line), else null. */
  get reason(): string | null {
    return this.currentReason;
  }

  get stats(): SourceStats {
    return { state: this.current, reason: this.currentReason, ...this.counts, badFiles: 0 };
  }

  /** The last lines ffmpeg wrote to stderr (cleaned), oldest first. */
  get stderrTail(): readonly string[] {
    return [...this.stderr];
  }

  /** The ffmpeg arguments this camera runs (without the executable). */
  get ffmpegArgs(): readonly string[] {
    return [...this.args];
  }

  /** The running ffmpeg's process id, or null. */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  start(): void {
    if (this.current !== 'idle') {
      if (this.current === 'stopped') throw new TypeError(`camera ${this.id} was stopped; create a new Camera`);
      return;
    }
    void this.launch();
  }

  /**
   * Frames as they arrive, newest first when the consumer falls behind. One consumer at a time;
   * the iteration ends when the camera stops or a file source ends.
   */
  frames(): AsyncIterableIterator<Frame> {
    if (this.iterating) throw new TypeError(`camera ${this.id}: frames() already has a consumer`);
    this.iterating = true;
    const it: AsyncIterableIterator<Frame> = {
      next: () => {
        if (this.slot) {
          const value = this.slot;
          this.slot = null;
          return Promise.resolve({ value, done: false });
        }
        if (!this.iterating || this.current === 'stopped' || this.current === 'ended') return Promise.resolve({ value: undefined, done: true });
        if (this.waiter) return Promise.reject(new TypeError('frames(): next() called before the previous one settled'));
        return new Promise((resolve) => (this.waiter = resolve));
      },
      return: () => {
        this.iterating = false;
        this.finishWaiter();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  /**
   * Stops the camera: SIGTERM to ffmpeg, SIGKILL after `killGraceMs`; resolves once ffmpeg has
   * been reaped and its pipes are closed. Idempotent.
   */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.clearTimers();
    const child = this.child;
    const closed = this.childClosed;
    this.stopping = (async () => {
      if (child) {
        this.kill(child);
        await closed;
      }
      this.slot = null;
      this.setState('stopped', null, null);
      this.finishWaiter();
    })();
    return this.stopping;
  }

  private async launch(): Promise<void> {
    if (this.stopping) return;
    const gen = ++this.generation;
    this.setState('connecting', null, null);
    let exe: string;
    try {
      // Looked up on every start: an operator may install ffmpeg while the camera waits offline.
      exe = await findFfmpeg(this.ffmpegPath);
    } catch (e) {
      if (gen !== this.generation || this.stopping) return;
      this.fail(e instanceof GanomalyError ? e : new CameraSourceError(errorMessage(e)));
      return;
    }
    if (gen !== this.generation || this.stopping) return;
    if (this.spawned++ > 0) this.counts.restarts++;
    this.stderr = [];
    this.killedForStall = false;
    const child = spawn(exe, this.args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    this.child = child;
    let spawnError: Error | null = null;
    this.childClosed = new Promise<void>((resolve) => {
      child.once('close', (code, signal) => {
        resolve();
        if (gen === this.generation) this.exited(code, signal, spawnError);
      });
    });
    // A failed spawn (ENOENT, EACCES) emits 'error' and then 'close'.
    child.once('error', (e) => (spawnError = e));
    const reader = new FrameReader(frameBytes(this.format), (data) => {
      if (gen === this.generation) this.received(data);
    });
    child.stdout!.on('data', (chunk: Buffer) => reader.push(chunk));
    let partial = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      const lines = (partial + text).split(/\r?\n|\r/);
      partial = lines.pop()!.slice(-MAX_LINE);
      for (const l of lines) this.stderrLine(l);
    });
    child.stderr!.on('end', () => partial && this.stderrLine(partial));
    this.armWatchdog(this.startTimeoutMs);
  }

  private stderrLine(raw: string): void {
    const line = cleanLine(raw).slice(0, MAX_LINE);
    if (!line) return;
    this.stderr.push(line);
    if (this.stderr.length > this.stderrMax) this.stderr.shift();
  }

  private received(data: Uint8Array): void {
    const now = Date.now();
    this.counts.framesReceived++;
    this.counts.lastFrameAt = now;
    if (this.current !== 'streaming') {
      this.failures = 0;
      this.setState('streaming', null, null);
    }
    this.armWatchdog(this.stallTimeoutMs);
    const { width, height, pixelFormat } = this.format;
    const frame: Frame = { data, width, height, channels: channelsOf(pixelFormat), source: this.id, seq: this.counts.framesReceived, timestamp: now };
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w({ value: frame, done: false });
      return;
    }
    if (this.slot) this.counts.framesDropped++;
    this.slot = frame;
  }

  private armWatchdog(ms: number): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.watchdogFired(), ms);
  }

  private watchdogFired(): void {
    this.watchdog = null;
    const child = this.child;
    if (!child || this.stopping) return;
    if (this.current === 'streaming') {
      const error = new CameraStallError(`no frame for ${this.stallTimeoutMs} ms; restarting ffmpeg`);
      this.killedForStall = true;
      this.setState('stalled', error.message, error);
    } else {
      this.startTimedOut = true;
    }
    this.kill(child);
  }

  private startTimedOut = false;

  private exited(code: number | null, signal: NodeJS.Signals | null, spawnError: Error | null): void {
    this.child = null;
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = null;
    if (this.stopping) return;
    if (this.killedForStall) {
      // A stall restarts at once: the camera was streaming a moment ago.
      void this.launch();
      return;
    }
    const last = this.stderr.at(-1);
    if (this.kind === 'file' && !this.input.loop && code === 0 && this.counts.framesReceived > 0 && this.current === 'streaming') {
      this.setState('ended', null, null);
      if (!this.slot) this.finishWaiter();
      return;
    }
    let message: string;
    if (spawnError) message = `cannot start ffmpeg: ${errorMessage(spawnError)}`;
    else if (this.startTimedOut) message = `no frame within ${this.startTimeoutMs} ms of starting ffmpeg${last ? `: ${last}` : ''}`;
    else {
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      message = `ffmpeg ${how}${last ? `: ${last}` : code === 0 ? ' (end of stream)' : ''}`;
    }
    this.startTimedOut = false;
    this.fail(new CameraSourceError(message.slice(0, MAX_REASON)));
  }

  /** Offline, and a reconnect after the next backoff delay. */
  private fail(error: GanomalyError): void {
    this.setState('offline', error.message, error);
    const delay = backoffDelay(this.failures, this.backoff);
    this.failures++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.launch();
    }, delay);
  }

  private kill(child: ChildProcess): void {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    if (this.killGraceMs === 0) {
      child.kill('SIGKILL');
      return;
    }
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, this.killGraceMs);
    child.once('close', () => clearTimeout(timer));
  }

  private clearTimers(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.watchdog = this.retryTimer = null;
  }

  private finishWaiter(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.({ value: undefined, done: true });
  }

  private setState(state: SourceState, reason: string | null, error: GanomalyError | null): void {
    const previous = this.current;
    if (previous === state && reason === this.currentReason) return;
    this.current = state;
    this.currentReason = reason;
    this.emit('state', { state, previous, reason, error });
  }
}
