// A folder an industrial camera (or any program) drops image files into. Each new PNG/JPEG/WebP
// becomes one frame at the same fixed size and format as an ffmpeg camera's.
//
// The folder is polled, not watched with fs.watch: inotify does not see files written over NFS/SMB,
// the usual way such cameras deliver, and no watcher says when a writer has finished a file anyway;
// size and mtime unchanged across two polls is the signal that it has.
import { EventEmitter } from 'node:events';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { GanomalyError, preprocessImage, type Logger, type Manifest, type RawImage } from '@ganomaly-edge/runtime/node';
import { decodeNodeImage, DEFAULT_LIMIT_INPUT_PIXELS } from '@ganomaly-edge/runtime/node';
import { channelsOf, checkFrameFormat, checkInt, checkRoi, type FrameFormat, type Roi } from './ffmpeg.js';
import type { Frame, FrameSource, SourceState, SourceStats, StateChange } from './source.js';

/** The watched folder is missing or cannot be listed. */
export class FolderSourceError extends GanomalyError {
  override name = 'FolderSourceError';
  readonly code = 'folder_unreadable';
}

/** An image file in the folder could not be read, decoded or cropped (it is skipped, and counted). */
export class BadImageFileError extends GanomalyError {
  override name = 'BadImageFileError';
  readonly code = 'bad_image_file';
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message);
  }
}

export interface FolderSourceOptions extends FrameFormat {
  /** Name in events and logs: 1-64 characters of [A-Za-z0-9_.-]. */
  id: string;
  /** The folder to watch (files directly inside it; subfolders are not read). */
  folder: string;
  /** Crop in source pixels before resizing; a file smaller than the crop is a bad file. */
  roi?: Roi;
  /**
   * 'name' (default): natural order of file names (frame-2 before frame-10), for cameras that number
   * or timestamp their files; 'mtime': modification time, then name.
   */
  order?: 'name' | 'mtime';
  /** Also read the files already there at start(). Default false: only files that appear later. */
  includeExisting?: boolean;
  /** How often the folder is listed (ms), 50-60000. Default 500. A file is read once two polls in a row see the same size and mtime. */
  pollIntervalMs?: number;
  /** Largest image (width × height) decoded, 1-1e9. Default the runtime's 100 megapixels. */
  limitInputPixels?: number;
  /** Where bad files are reported (one line each). Default: console. */
  logger?: Logger;
}

export interface FolderSourceEvents {
  state: [StateChange];
  'bad-file': [BadImageFileError];
}

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg', '.webp']);
const natural = new Intl.Collator('en', { numeric: true });

interface Seen {
  size: number;
  mtimeMs: number;
}

/**
 * Frames from image files dropped into a folder, each file once, in name or mtime order. Pull
 * frames with `for await (const f of source.frames())`: a file is decoded only when the consumer
 * asks for the next frame, so files waiting on disk cost no memory and none is dropped. Hidden
 * files (a leading '.', how many writers name a file in progress) are ignored.
 */
export class FolderSource extends EventEmitter<FolderSourceEvents> implements FrameSource {
  readonly id: string;
  readonly folder: string;
  readonly format: Readonly<FrameFormat>;
  readonly pollIntervalMs: number;
  private readonly roi: Roi | undefined;
  private readonly order: 'name' | 'mtime';
  private readonly includeExisting: boolean;
  private readonly limitInputPixels: number;
  private readonly logger: Logger;
  private readonly pre: Manifest['preprocessing'];

  private current: SourceState | 'idle' = 'idle';
  private currentReason: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private firstPoll = true;
  /** Files seen but not yet stable: their size and mtime at the last poll. */
  private pending = new Map<string, Seen>();
  /** Files stable and waiting for the consumer, with their mtime for ordering. */
  private ready = new Map<string, number>();
  /** Files taken (or present at start without includeExisting); pruned when they leave the folder. */
  private done = new Set<string>();
  private waiter: ((r: IteratorResult<Frame>) => void) | null = null;
  private iterating = false;
  private counts = { framesReceived: 0, badFiles: 0, lastFrameAt: null as number | null };

  constructor(options: FolderSourceOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw new TypeError('FolderSource needs an options object');
    if (typeof options.id !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(options.id)) {
      throw new TypeError(`source id must be 1-64 characters of A-Z a-z 0-9 _ . -; got ${JSON.stringify(options.id)}`);
    }
    if (typeof options.folder !== 'string' || options.folder === '') throw new TypeError('folder must be a non-empty path');
    checkFrameFormat(options);
    checkRoi(options.roi);
    if (options.order !== undefined && options.order !== 'name' && options.order !== 'mtime') {
      throw new TypeError(`order must be 'name' or 'mtime'; got ${JSON.stringify(options.order)}`);
    }
    this.id = options.id;
    this.folder = path.resolve(options.folder);
    this.format = Object.freeze({ width: options.width, height: options.height, pixelFormat: options.pixelFormat });
    this.roi = options.roi && { ...options.roi };
    this.order = options.order ?? 'name';
    this.includeExisting = options.includeExisting ?? false;
    this.pollIntervalMs = checkInt('pollIntervalMs', options.pollIntervalMs ?? 500, 50, 60_000);
    this.limitInputPixels = checkInt('limitInputPixels', options.limitInputPixels ?? DEFAULT_LIMIT_INPUT_PIXELS, 1, 1e9);
    this.logger = options.logger ?? console;
    const nc = channelsOf(options.pixelFormat);
    // The runtime's preprocessing with mean 0 and std 1/255 is its resize alone, in 0-255 units:
    // the same bilinear arithmetic a detector applies, rather than a second resize to keep in step.
    this.pre = {
      channelOrder: nc === 1 ? 'gray' : 'rgb',
      layout: 'NCHW',
      resize: { width: options.width, height: options.height, fit: 'fill', kernel: 'bilinear' },
      mean: Array(nc).fill(0),
      std: Array(nc).fill(1 / 255),
    };
  }

  get state(): SourceState | 'idle' {
    return this.current;
  }

  get reason(): string | null {
    return this.currentReason;
  }

  get stats(): SourceStats {
    return { state: this.current, reason: this.currentReason, framesReceived: this.counts.framesReceived, framesDropped: 0, restarts: 0, badFiles: this.counts.badFiles, lastFrameAt: this.counts.lastFrameAt };
  }

  start(): void {
    if (this.current !== 'idle') {
      if (this.current === 'stopped') throw new TypeError(`folder source ${this.id} was stopped; create a new one`);
      return;
    }
    this.setState('connecting', null, null);
    void this.poll();
    this.timer = setInterval(() => void this.poll(), this.pollIntervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.polling;
    if (this.current !== 'stopped') this.setState('stopped', null, null);
    const w = this.waiter;
    this.waiter = null;
    w?.({ value: undefined, done: true });
  }

  /** Frames, one per new image file, decoded when asked for. One consumer at a time; ends at stop(). */
  frames(): AsyncIterableIterator<Frame> {
    if (this.iterating) throw new TypeError(`folder source ${this.id}: frames() already has a consumer`);
    this.iterating = true;
    const it: AsyncIterableIterator<Frame> = {
      next: () => this.next(),
      return: () => {
        this.iterating = false;
        const w = this.waiter;
        this.waiter = null;
        w?.({ value: undefined, done: true });
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  private async next(): Promise<IteratorResult<Frame>> {
    for (;;) {
      if (!this.iterating || this.current === 'stopped') return { value: undefined, done: true };
      const name = this.takeNext();
      if (name === undefined) {
        if (this.waiter) throw new TypeError('frames(): next() called before the previous one settled');
        const r = await new Promise<IteratorResult<Frame>>((resolve) => (this.waiter = resolve));
        if (r.done) return r;
        continue;
      }
      const frame = await this.read(name);
      if (frame) return { value: frame, done: false };
    }
  }

  private takeNext(): string | undefined {
    let best: string | undefined;
    let bestMtime = 0;
    for (const [name, mtime] of this.ready) {
      if (best === undefined || this.before(name, mtime, best, bestMtime)) {
        best = name;
        bestMtime = mtime;
      }
    }
    if (best !== undefined) {
      this.ready.delete(best);
      this.done.add(best);
    }
    return best;
  }

  private before(a: string, am: number, b: string, bm: number): boolean {
    if (this.order === 'mtime' && am !== bm) return am < bm;
    return natural.compare(a, b) < 0;
  }

  private async read(name: string): Promise<Frame | null> {
    const file = path.join(this.folder, name);
    try {
      const img = await decodeNodeImage(file, this.limitInputPixels);
      const data = this.toFrameBytes(img, name);
      const now = Date.now();
      this.counts.framesReceived++;
      this.counts.lastFrameAt = now;
      const { width, height, pixelFormat } = this.format;
      return { data, width, height, channels: channelsOf(pixelFormat), source: this.id, seq: this.counts.framesReceived, timestamp: now, file: name };
    } catch (e) {
      const error = e instanceof BadImageFileError ? e : new BadImageFileError(name, `${this.id}: skipped ${name}: ${e instanceof Error ? e.message : String(e)}`.replace(/\s*\n\s*/g, ' '));
      this.counts.badFiles++;
      this.logger.warn(error.message);
      this.emit('bad-file', error);
      return null;
    }
  }

  private toFrameBytes(img: RawImage, name: string): Uint8Array {
    let src = img;
    const roi = this.roi;
    if (roi) {
      if (roi.x + roi.width > img.width || roi.y + roi.height > img.height) {
        throw new BadImageFileError(name, `${this.id}: skipped ${name}: ${img.width}x${img.height} image is smaller than the crop ${roi.width}x${roi.height} at ${roi.x},${roi.y}`);
      }
      const c = img.channels;
      const data = new Uint8Array(roi.width * roi.height * c);
      for (let y = 0; y < roi.height; y++) {
        const from = ((roi.y + y) * img.width + roi.x) * c;
        data.set(img.data.subarray(from, from + roi.width * c), y * roi.width * c);
      }
      src = { data, width: roi.width, height: roi.height, channels: c };
    }
    const values = preprocessImage(src, this.pre, 'HWC');
    const out = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(values[i]!)));
    return out;
  }

  private poll(): Promise<void> {
    this.polling ??= this.scan().finally(() => (this.polling = null));
    return this.polling;
  }

  private async scan(): Promise<void> {
    let entries;
    try {
      entries = await readdir(this.folder, { withFileTypes: true });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      this.setState('offline', `folder ${this.folder} cannot be listed (${code})`, null);
      return;
    }
    if (this.current === 'stopped') return;
    const present = new Set<string>();
    for (const d of entries) {
      if (!d.isFile() || d.name.startsWith('.') || !IMAGE_EXT.has(path.extname(d.name).toLowerCase())) continue;
      present.add(d.name);
      if (this.done.has(d.name) || this.ready.has(d.name)) continue;
      if (this.firstPoll && !this.includeExisting) {
        this.done.add(d.name);
        continue;
      }
      let s;
      try {
        s = await stat(path.join(this.folder, d.name));
      } catch {
        continue; // removed between listing and stat
      }
      const before = this.pending.get(d.name);
      if (before && before.size === s.size && before.mtimeMs === s.mtimeMs && s.size > 0) {
        this.pending.delete(d.name);
        this.ready.set(d.name, s.mtimeMs);
      } else {
        this.pending.set(d.name, { size: s.size, mtimeMs: s.mtimeMs });
      }
    }
    // Only names still in the folder are remembered, so memory follows the folder, not its history.
    for (const set of [this.done, this.pending, this.ready]) for (const name of set.keys()) if (!present.has(name)) set.delete(name);
    this.firstPoll = false;
    if (this.current !== 'streaming') this.setState('streaming', null, null);
    if (this.ready.size > 0 && this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      // Wakes next(), which takes the file itself (a placeholder value, never returned).
      w({ value: undefined as never, done: false });
    }
  }

  private setState(state: SourceState, reason: string | null, error: GanomalyError | null): void {
    const previous = this.current;
    if (previous === state && reason === this.currentReason) return;
    this.current = state;
    this.currentReason = reason;
    const err = error ?? (state === 'offline' && reason ? new FolderSourceError(reason) : null);
    this.emit('state', { state, previous, reason, error: err });
  }
}
