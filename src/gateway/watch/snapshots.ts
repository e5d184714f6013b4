// Event snapshots: the camera frame with the anomaly heatmap laid over the scored region, as JPEG
// files in one folder with retention by count, total bytes and age. Only files whose names this
// gateway writes (`snap.<camera>.<time>.<event>.jpg`) are counted or removed, so pointing `dir` at
// a folder that holds anything else never deletes it. Each file is written under a temporary name
// and renamed, so a reader (a webhook consumer following `snapshot`) never sees half a JPEG.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { anomalyMapToPixels, type ImageTensor, type RawImage } from '@ganomaly-edge/runtime/node';
import { loadSharp } from '@ganomaly-edge/runtime/node';
import { GanomalyError } from '@ganomaly-edge/runtime/node';
import type { Roi } from './config.js';

/** Writing or pruning a snapshot failed (disk full, permissions); the event is still published. */
export class SnapshotError extends GanomalyError {
  override name = 'SnapshotError';
  readonly code = 'snapshot_failed';
}

export interface SnapshotStoreOptions {
  dir: string;
  /** Most files kept, 1-1000000. */
  maxCount: number;
  /** Most bytes kept, ≥ 1. The newest file is kept even when it alone is larger. */
  maxBytes: number;
  /** Files older than this (by the time in their name) are removed, 1-31536000 s. */
  maxAgeSeconds: number;
  /** JPEG quality, 1-100. Default 80. */
  quality?: number;
  /** Opacity of the hottest heatmap colour, 0-1; colder pixels are proportionally more transparent. Default 0.6. */
  opacity?: number;
  /** Clock for ages, ms since the epoch. Default Date.now. */
  now?: () => number;
}

export interface SnapshotInput {
  camera: string;
  eventId: string;
  /** Frame time, ms since the epoch: the file name's time, and what ages are measured from. */
  time: number;
  /** The frame as captured (1-4 channels, 8-bit). */
  frame: RawImage;
  /** The detector's anomaly map; absent: the frame alone is saved. */
  anomalyMap?: ImageTensor;
  /** Where in the frame the map applies (the scored region); default the whole frame. */
  roi?: Roi;
  /** Map value shown as the hottest colour; default the map's own maximum. */
  mapMax?: number;
}

export interface SnapshotFile {
  name: string;
  path: string;
  bytes: number;
  /** From the name, ms since the epoch. */
  time: number;
}

// snap.<camera>.<yyyymmddThhmmssmmmZ>.<event id>.jpg; camera and id characters exclude '.'.
const NAME = /^snap\.([A-Za-z0-9_-]{1,64})\.(\d{8}T\d{9}Z)\.([A-Za-z0-9_-]{1,64})\.jpg$/;
const TEMP = /^\.snap\..*\.tmp$/;

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:.]/g, '');
}

function parseStamp(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z$/.exec(s)!;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!);
}

/** The snapshot file name for an event frame (what `SnapshotStore.write` writes). */
export function snapshotName(camera: string, time: number, eventId: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(camera)) throw new TypeError(`camera name must be 1-64 characters of [A-Za-z0-9_-]; got '${camera}'`);
  if (!Number.isFinite(time) || time < 0) throw new RangeError(`time must be non-negative milliseconds since the epoch; got ${time}`);
  const id = eventId.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64) || 'event';
  return `snap.${camera}.${stamp(time)}.${id}.jpg`;
}

function checkNumber(v: unknown, name: string, min: number, max: number, integer: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new TypeError(`${name} must be ${integer ? 'an integer' : 'a number'}; got ${String(v)}`);
  }
  if (v < min || v > max) throw new RangeError(`${name} must be from ${min} to ${max}; got ${v}`);
  return v;
}

/** Renders the frame with the heatmap over `roi` as JPEG bytes. */
export async function renderSnapshot(input: Omit<SnapshotInput, 'camera' | 'eventId' | 'time'>, opts: { quality?: number; opacity?: number } = {}): Promise<Buffer> {
  const { frame } = input;
  const quality = checkNumber(opts.quality ?? 80, 'quality', 1, 100, true);
  const opacity = checkNumber(opts.opacity ?? 0.6, 'opacity', 0, 1, false);
  const channels = frame.channels as 1 | 2 | 3 | 4;
  if (![1, 2, 3, 4].includes(channels) || frame.data.length !== frame.width * frame.height * frame.channels) {
    throw new TypeError(`frame must be ${frame.width}x${frame.height} 8-bit pixels with 1-4 channels (${frame.width * frame.height * frame.channels} bytes); got ${frame.data.length} bytes`);
  }
  const roi = input.roi ?? { x: 0, y: 0, w: frame.width, h: frame.height };
  if (roi.x < 0 || roi.y < 0 || roi.w < 1 || roi.h < 1 || roi.x + roi.w > frame.width || roi.y + roi.h > frame.height) {
    throw new RangeError(`roi ${roi.x},${roi.y} ${roi.w}x${roi.h} is not inside the ${frame.width}x${frame.height} frame`);
  }
  const sharp = await loadSharp();
  const raw = (img: RawImage) => ({ raw: { width: img.width, height: img.height, channels: img.channels as 1 | 2 | 3 | 4 } });
  const base = sharp(Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.length), raw(frame)).removeAlpha().toColourspace('srgb');
  if (!input.anomalyMap) return base.jpeg({ quality }).toBuffer();
  const map = input.anomalyMap;
  const heat = anomalyMapToPixels(map, input.mapMax === undefined ? {} : { max: input.mapMax });
  // Alpha follows the map value, so normal regions show the frame itself and only the anomaly is
  // coloured: the same colours as the CLI's heatmaps, readable on top of the picture.
  let max = input.mapMax ?? 0;
  if (input.mapMax === undefined) for (const v of map.data) if (v > max) max = v;
  for (let p = 0; p < map.width * map.height; p++) {
    const v = max > 0 ? Math.min(Math.max(map.data[p]! / max, 0), 1) : 0;
    heat.data[p * 4 + 3] = Math.round(255 * opacity * v);
  }
  const overlay = await sharp(Buffer.from(heat.data.buffer, heat.data.byteOffset, heat.data.length), raw(heat))
    .resize(roi.w, roi.h, { fit: 'fill', kernel: 'cubic' })
    .png()
    .toBuffer();
  const rgb = await base.raw().toBuffer({ resolveWithObject: true });
  return sharp(rgb.data, { raw: { width: rgb.info.width, height: rgb.info.height, channels: rgb.info.channels as 3 } })
    .composite([{ input: overlay, left: roi.x, top: roi.y }])
    .jpeg({ quality })
    .toBuffer();
}

/** A snapshot folder with retention. Create with `SnapshotStore.open`. */
export class SnapshotStore {
  private readonly files = new Map<string, SnapshotFile>();
  private chain: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;
  /** Files removed by retention since open. */
  removed = 0;

  private constructor(readonly options: Readonly<SnapshotStoreOptions>) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Creates the folder if needed, deletes temporary files a crashed run left, indexes the snapshots
   * already there and applies retention to them.
   */
  static async open(options: SnapshotStoreOptions): Promise<SnapshotStore> {
    if (typeof options?.dir !== 'string' || options.dir === '') throw new TypeError('dir must be a non-empty path');
    checkNumber(options.maxCount, 'maxCount', 1, 1_000_000, true);
    checkNumber(options.maxBytes, 'maxBytes', 1, Number.MAX_SAFE_INTEGER, true);
    checkNumber(options.maxAgeSeconds, 'maxAgeSeconds', 1, 31_536_000, false);
    if (options.quality !== undefined) checkNumber(options.quality, 'quality', 1, 100, true);
    if (options.opacity !== undefined) checkNumber(options.opacity, 'opacity', 0, 1, false);
    const store = new SnapshotStore(options);
    try {
      await mkdir(options.dir, { recursive: true });
      for (const name of await readdir(options.dir)) {
        if (TEMP.test(name)) {
          await rm(join(options.dir, name), { force: true });
          continue;
        }
        const m = NAME.exec(name);
        if (!m) continue;
        const s = await stat(join(options.dir, name)).catch(() => undefined);
        if (!s?.isFile()) continue;
        store.files.set(name, { name, path: join(options.dir, name), bytes: s.size, time: parseStamp(m[2]!) });
      }
    } catch (e) {
      throw new SnapshotError(`cannot use snapshot folder ${options.dir}: ${e instanceof Error ? e.message : String(e)}`);
    }
    await store.prune();
    return store;
  }

  /** The snapshots this store counts, oldest first. */
  list(): SnapshotFile[] {
    return [...this.files.values()].sort(byAge);
  }

  /** Total bytes of the snapshots this store counts. */
  get bytes(): number {
    let n = 0;
    for (const f of this.files.values()) n += f.bytes;
    return n;
  }

  /** Renders and writes one snapshot, then applies retention; resolves to the written file. */
  write(input: SnapshotInput): Promise<SnapshotFile> {
    const name = snapshotName(input.camera, input.time, input.eventId);
    const job = this.chain.then(async () => {
      const jpeg = await renderSnapshot(input, this.options);
      const path = join(this.options.dir, name);
      const tmp = join(this.options.dir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
      try {
        await writeFile(tmp, jpeg, { flush: true });
        await rename(tmp, path);
      } catch (e) {
        await rm(tmp, { force: true });
        throw new SnapshotError(`cannot write snapshot ${path}: ${e instanceof Error ? e.message : String(e)}`);
      }
      const file = { name, path, bytes: jpeg.length, time: input.time };
      this.files.set(name, file);
      await this.pruneNow(name);
      return file;
    });
    this.chain = job.catch(() => undefined);
    return job;
  }

  /** Applies retention now (also done after every write); resolves to the removed paths. */
  prune(): Promise<string[]> {
    const job = this.chain.then(() => this.pruneNow());
    this.chain = job.catch(() => undefined);
    return job;
  }

  // Oldest first until count, bytes and age are all within bounds; `keep` (the file just written,
  // whose path goes into the event) is never removed.
  private async pruneNow(keep?: string): Promise<string[]> {
    const { maxCount, maxBytes, maxAgeSeconds } = this.options;
    const oldest = this.now() - maxAgeSeconds * 1000;
    let count = this.files.size;
    let bytes = this.bytes;
    const removed: string[] = [];
    for (const f of this.list()) {
      if (count <= maxCount && bytes <= maxBytes && f.time >= oldest) break;
      if (f.name === keep) continue;
      try {
        await rm(f.path, { force: true });
      } catch (e) {
        throw new SnapshotError(`cannot remove old snapshot ${f.path}: ${e instanceof Error ? e.message : String(e)}`);
      }
      this.files.delete(f.name);
      count--;
      bytes -= f.bytes;
      removed.push(f.path);
      this.removed++;
    }
    return removed;
  }
}

function byAge(a: SnapshotFile, b: SnapshotFile): number {
  return a.time - b.time || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}
