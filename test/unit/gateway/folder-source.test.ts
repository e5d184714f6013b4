// FolderSource with real files and sharp: stable-size detection, order, each file once, bad files.
import { appendFile, mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FolderSource, type FolderSourceOptions } from '../../../src/gateway/watch/folder-source.js';
import type { Frame, StateChange } from '../../../src/gateway/watch/source.js';

let root: string;
let n = 0;
const sources: FolderSource[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'gw-folder-'));
});
afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()));
});
afterAll(async () => rm(root, { recursive: true, force: true }));

/** A grey PNG, `width`×`height`, left half 0 and right half 255 (or all `fill`). */
function png(width: number, height: number, fill?: number): Promise<Buffer> {
  const data = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = fill ?? (x < width / 2 ? 0 : 255);
  return sharp(data, { raw: { width, height, channels: 1 } }).png().toBuffer();
}

async function folder(): Promise<string> {
  const dir = path.join(root, `f${n++}`);
  await mkdir(dir);
  return dir;
}

function source(dir: string, o: Partial<FolderSourceOptions> = {}): { src: FolderSource; warnings: string[] } {
  const warnings: string[] = [];
  const src = new FolderSource({ id: 'drop', folder: dir, width: 8, height: 4, pixelFormat: 'gray', pollIntervalMs: 100, includeExisting: true, logger: { warn: (m) => warnings.push(m) }, ...o });
  sources.push(src);
  src.start();
  return { src, warnings };
}

async function take(it: AsyncIterator<Frame>, count: number): Promise<Frame[]> {
  const out: Frame[] = [];
  for (let i = 0; i < count; i++) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

describe('FolderSource', () => {
  it('resizes (and crops) with the runtime bilinear code to the fixed size and format', async () => {
    const dir = await folder();
    await writeFile(path.join(dir, 'a.png'), await png(40, 20));
    const { src } = source(dir);
    const [f] = await take(src.frames(), 1);
    expect(f).toMatchObject({ width: 8, height: 4, channels: 1, file: 'a.png', source: 'drop', seq: 1 });
    expect(Array.from(f!.data)).toEqual(Array.from({ length: 32 }, (_, i) => (i % 8 < 4 ? 0 : 255)));

    const dir2 = await folder();
    await writeFile(path.join(dir2, 'a.png'), await png(40, 20));
    const { src: cropped } = source(dir2, { roi: { x: 15, y: 0, width: 10, height: 20 }, width: 2, height: 2, pixelFormat: 'rgb24' });
    const [g] = await take(cropped.frames(), 1);
    expect(g!.channels).toBe(3);
    expect(Array.from(g!.data)).toEqual([0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255]);
  });

  it('does not read a file while its size is still changing', async () => {
    const dir = await folder();
    const bytes = await png(40, 20);
    const { src, warnings } = source(dir, { pollIntervalMs: 200 });
    const it = src.frames();
    const first = it.next();
    const file = path.join(dir, 'slow.png');
    // A writer trickling the file in: many polls see it partial, none see the same size twice.
    const step = Math.ceil(bytes.length / 20);
    for (let at = 0; at < bytes.length; at += step) {
      await appendFile(file, bytes.subarray(at, at + step));
      await sleep(40); // 20 × 40 ms: the file is partial through about four polls
    }
    const f = (await first).value as Frame;
    expect(f.file).toBe('slow.png');
    expect(Array.from(f.data)).toEqual(Array.from({ length: 32 }, (_, i) => (i % 8 < 4 ? 0 : 255)));
    expect(src.stats.badFiles).toBe(0);
    expect(warnings).toEqual([]);
  });

  it('reads files in natural name order or in mtime order, each once', async () => {
    const dir = await folder();
    for (const name of ['c10.png', 'c2.png', 'c1.png']) await writeFile(path.join(dir, name), await png(8, 4));
    const byName = source(dir).src;
    const it = byName.frames();
    expect((await take(it, 3)).map((f) => f.file)).toEqual(['c1.png', 'c2.png', 'c10.png']);
    await writeFile(path.join(dir, 'c0.png'), await png(8, 4));
    expect((await take(it, 1)).map((f) => f.file)).toEqual(['c0.png']);
    await sleep(350); // polls after taking them: nothing comes twice
    const next = await Promise.race([it.next(), sleep(300).then(() => 'none')]);
    expect(next).toBe('none');
    expect(byName.stats.framesReceived).toBe(4);

    const dir2 = await folder();
    const t0 = Date.now() / 1000 - 100;
    for (const [name, age] of [['a.png', 30], ['b.png', 10], ['c.png', 20]] as const) {
      await writeFile(path.join(dir2, name), await png(8, 4));
      await utimes(path.join(dir2, name), t0 + age, t0 + age);
    }
    const byMtime = source(dir2, { order: 'mtime' }).src;
    expect((await take(byMtime.frames(), 3)).map((f) => f.file)).toEqual(['b.png', 'c.png', 'a.png']);
  });

  it('skips the files present at start unless includeExisting', async () => {
    const dir = await folder();
    await writeFile(path.join(dir, 'old.png'), await png(8, 4));
    const { src } = source(dir, { includeExisting: false });
    const it = src.frames();
    await sleep(250);
    await writeFile(path.join(dir, 'new.png'), await png(8, 4));
    expect((await take(it, 1)).map((f) => f.file)).toEqual(['new.png']);
  });

  it('counts and logs bad files (garbage bytes, smaller than the crop), ignores other files, keeps going', async () => {
    const dir = await folder();
    await writeFile(path.join(dir, 'a-garbage.png'), Buffer.from('this is not an image at all, just text bytes'));
    await writeFile(path.join(dir, 'b-small.png'), await png(8, 8));
    await writeFile(path.join(dir, 'c-notes.txt'), 'ignored');
    await writeFile(path.join(dir, '.d-hidden.png'), await png(40, 20));
    await writeFile(path.join(dir, 'e-good.jpg'), await sharp(await png(40, 20)).jpeg({ quality: 100 }).toBuffer());
    const { src, warnings } = source(dir, { roi: { x: 0, y: 0, width: 20, height: 20 } });
    const bad: string[] = [];
    src.on('bad-file', (e) => bad.push(`${e.code} ${e.file}`));
    const [f] = await take(src.frames(), 1);
    expect(f!.file).toBe('e-good.jpg');
    expect(src.stats.badFiles).toBe(2);
    expect(bad).toEqual(['bad_image_file a-garbage.png', 'bad_image_file b-small.png']);
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toMatch(/b-small\.png: 8x8 image is smaller than the crop 20x20/);
    for (const w of warnings) expect(w).not.toContain('\n');
  });

  it('is offline while the folder is missing and streams once it exists', async () => {
    const dir = path.join(root, `missing${n++}`);
    const states: StateChange[] = [];
    const src = new FolderSource({ id: 'late', folder: dir, width: 8, height: 4, pixelFormat: 'gray', pollIntervalMs: 50, includeExisting: true });
    sources.push(src);
    src.on('state', (s) => states.push(s));
    src.start();
    await sleep(200);
    expect(src.state).toBe('offline');
    expect(src.reason).toMatch(/cannot be listed \(ENOENT\)/);
    expect(states.at(-1)?.error?.code).toBe('folder_unreadable');
    await mkdir(dir);
    await writeFile(path.join(dir, 'x.png'), await png(8, 4));
    const [f] = await take(src.frames(), 1);
    expect(f!.file).toBe('x.png');
    expect(states.map((s) => s.state)).toEqual(['connecting', 'offline', 'streaming']);
    await src.stop();
    expect(src.state).toBe('stopped');
  });

  it('checks its options at construction', () => {
    const ok = { id: 'x', folder: root, width: 8, height: 4, pixelFormat: 'gray' as const };
    expect(() => new FolderSource({ ...ok, pollIntervalMs: 10 })).toThrow(RangeError);
    expect(() => new FolderSource({ ...ok, limitInputPixels: 0 })).toThrow(RangeError);
    expect(() => new FolderSource({ ...ok, order: 'size' as never })).toThrow(TypeError);
    expect(() => new FolderSource({ ...ok, folder: '' })).toThrow(TypeError);
    expect(() => new FolderSource({ ...ok, width: 0 })).toThrow(RangeError);
  });
});
