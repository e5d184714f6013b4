import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPreprocessing, preprocessImage, type RawImage } from '../../../src/runtime/core/pixels.js';
import { DataError, decodeImageFile, listImageFolder, loadDataset, type Dataset } from '../../../src/data/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'ganomaly-folder-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function pixels(w: number, h: number, c: number, seed: number): RawImage {
  const data = new Uint8Array(w * h * c);
  for (let i = 0; i < data.length; i++) data[i] = (seed * 17 + i * 11 + ((i * i) >> 4)) & 255;
  return { data, width: w, height: h, channels: c };
}
const encode = (img: RawImage) => sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: img.channels as 1 | 3 | 4 } });

/** Finds the set and slot where a file (relative to the dataset dir) landed. */
function locate(ds: Dataset, rel: string): { images: Float32Array; offset: number; label: number } {
  for (const set of [ds.train, ds.validation, ds.test]) {
    for (let k = 0; k < set.count; k++) {
      if (ds.sourceName(set.sources[k]!) === rel) {
        const per = set.isize * set.isize * set.nc;
        return { images: set.images.subarray(k * per, (k + 1) * per), offset: k, label: set.labels[k]! };
      }
    }
  }
  throw new Error(`${rel} not loaded`);
}

const root = join(tmp, 'parts');
const rgbPng = pixels(20, 14, 3, 1);
const greyPng = pixels(12, 12, 1, 2);
const rgbaWebp = pixels(9, 17, 4, 3);

beforeAll(async () => {
  mkdirSync(join(root, 'normal', 'sub'), { recursive: true });
  mkdirSync(join(root, 'abnormal'), { recursive: true });
  await encode(rgbPng).png().toFile(join(root, 'normal', 'rgb.png'));
  await encode(greyPng).png().toFile(join(root, 'normal', 'grey.png'));
  // exact: the encoder would otherwise rewrite RGB under fully transparent pixels.
  await encode(rgbaWebp).webp({ lossless: true, exact: true }).toFile(join(root, 'normal', 'alpha.webp'));
  await encode({ data: new Uint8Array(30 * 30 * 3).fill(200), width: 30, height: 30, channels: 3 }).jpeg({ quality: 95 }).toFile(join(root, 'normal', 'flat.JPG'));
  for (let i = 0; i < 6; i++) await encode(pixels(16, 16, 3, 10 + i)).png().toFile(join(root, 'normal', 'sub', `n${i}.png`));
  for (let i = 0; i < 3; i++) await encode(pixels(24, 24, 1, 20 + i)).png().toFile(join(root, 'abnormal', `a${i}.png`));
  writeFileSync(join(root, 'normal', 'notes.txt'), 'not an image');
  writeFileSync(join(root, 'normal', '.DS_Store'), 'x');
  mkdirSync(join(root, 'normal', '.ipynb_checkpoints'));
  await encode(greyPng).png().toFile(join(root, 'normal', '.ipynb_checkpoints', 'copy.png'));
  symlinkSync(join(root, 'abnormal', 'a0.png'), join(root, 'abnormal', 'z-link.png'));
});

describe('listImageFolder', () => {
  it('lists normal/ recursively in code-unit order, abnormal/ (symlinks followed), skips hidden, reports ignored', async () => {
    const f = await listImageFolder(root);
    expect(f.normal.map((p) => p.slice(root.length + 1))).toEqual([
      'normal/alpha.webp', 'normal/flat.JPG', 'normal/grey.png', 'normal/rgb.png',
      'normal/sub/n0.png', 'normal/sub/n1.png', 'normal/sub/n2.png', 'normal/sub/n3.png', 'normal/sub/n4.png', 'normal/sub/n5.png',
    ]);
    expect(f.abnormal.map((p) => p.slice(root.length + 1))).toEqual(['abnormal/a0.png', 'abnormal/a1.png', 'abnormal/a2.png', 'abnormal/z-link.png']);
    expect(f.ignored).toEqual(['normal/notes.txt']);
  });

  it('requires a normal/ folder with images', async () => {
    await expect(listImageFolder(join(tmp, 'absent'))).rejects.toThrow(/folder dataset not found/);
    mkdirSync(join(tmp, 'no-normal', 'abnormal'), { recursive: true });
    await expect(listImageFolder(join(tmp, 'no-normal'))).rejects.toThrow(/needs a normal\/ subfolder/);
    mkdirSync(join(tmp, 'empty', 'normal'), { recursive: true });
    await expect(listImageFolder(join(tmp, 'empty'))).rejects.toThrow(DataError);
  });
});

describe('loadDataset on a folder', () => {
  it('decodes PNG/JPEG/WebP at native size and preprocesses RGB to grey exactly as src/runtime/core/pixels.ts', async () => {
    const ds = await loadDataset(`folder:${root}`, { isize: 16, nc: 1, seed: 5 });
    // 10 normals: 2 test, 8 train+validation of which round(0.8) = 1 validation; 4 abnormal in test.
    expect(ds.split).toEqual({ seed: 5, abnormalClass: 'abnormal', trainNormal: 7, validationNormal: 1, testNormal: 2, testAbnormal: 4 });
    expect(ds.warnings.join('\n')).toMatch(/1 non-image files ignored .* normal\/notes.txt/);
    const pre = defaultPreprocessing(16, 1);
    // Lossless files: the pixels we encoded, through the shared pipeline, bit for bit.
    expect(locate(ds, 'normal/rgb.png').images).toEqual(preprocessImage(rgbPng, pre, 'HWC'));
    expect(locate(ds, 'normal/grey.png').images).toEqual(preprocessImage(greyPng, pre, 'HWC'));
    expect(locate(ds, 'normal/alpha.webp').images).toEqual(preprocessImage(rgbaWebp, pre, 'HWC'));
    const flat = locate(ds, 'normal/flat.JPG').images;
    for (const v of flat) expect(Math.abs(v - (200 / 127.5 - 1))).toBeLessThan(0.03);
    expect(locate(ds, 'abnormal/a1.png').label).toBe(1);
    for (const set of [ds.train, ds.validation]) expect(set.labels.every((l) => l === 0)).toBe(true);
  });

  it('loads grey files as RGB for nc 3 and is deterministic', async () => {
    const a = await loadDataset(`folder:${root}`, { isize: 32, nc: 3, seed: 5 });
    const b = await loadDataset(`folder:${root}`, { isize: 32, nc: 3, seed: 5, concurrency: 1 });
    expect(Buffer.from(a.train.images.buffer).equals(Buffer.from(b.train.images.buffer))).toBe(true);
    expect(Buffer.from(a.test.images.buffer).equals(Buffer.from(b.test.images.buffer))).toBe(true);
    const grey = locate(a, 'normal/grey.png').images;
    expect(grey).toEqual(preprocessImage({ ...greyPng }, defaultPreprocessing(32, 3), 'HWC'));
    expect(grey[3 * 40]).toBe(grey[3 * 40 + 2]);
  });

  it('fails on undecodable files naming them and the count, or skips them when asked', async () => {
    const bad = join(tmp, 'bad');
    mkdirSync(join(bad, 'normal'), { recursive: true });
    for (let i = 0; i < 8; i++) await encode(pixels(8, 8, 1, i)).png().toFile(join(bad, 'normal', `ok${i}.png`));
    writeFileSync(join(bad, 'normal', 'garbage.png'), 'this is not a png at all');
    const good = readFileSync(join(bad, 'normal', 'ok0.png'));
    await encode(pixels(64, 64, 3, 9)).jpeg().toFile(join(tmp, 'whole.jpg'));
    const jpg = readFileSync(join(tmp, 'whole.jpg'));
    writeFileSync(join(bad, 'normal', 'cut.jpg'), jpg.subarray(0, jpg.length >> 1));
    expect(good.length).toBeGreaterThan(0);

    const err = await loadDataset(`folder:${bad}`, { isize: 16, nc: 1, seed: 1 }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).toMatch(/^2 of 10 images could not be decoded: /);
    expect((err as Error).message).toContain(join(bad, 'normal', 'garbage.png'));
    expect((err as Error).message).toContain(join(bad, 'normal', 'cut.jpg'));

    const ds = await loadDataset(`folder:${bad}`, { isize: 16, nc: 1, seed: 1, skipUndecodable: true });
    const total = ds.train.count + ds.validation.count + ds.test.count;
    expect(total).toBe(8);
    expect(ds.warnings.join('\n')).toMatch(/2 of 10 images could not be decoded and were left out/);
    expect(ds.warnings.join('\n')).toMatch(/test set is all normal/);
    const names = [ds.train, ds.validation, ds.test].flatMap((s) => [...s.sources].map((p) => ds.sourceName(p)));
    expect(names.sort()).toEqual(Array.from({ length: 8 }, (_, i) => `normal/ok${i}.png`));
    for (const set of [ds.train, ds.validation, ds.test]) expect(set.images.length).toBe(set.count * 256);
    await expect(decodeImageFile(join(bad, 'normal', 'garbage.png'))).rejects.toThrow();
  });

  it('rejects an abnormalClass for folders', async () => {
    await expect(loadDataset(`folder:${root}`, { isize: 16, nc: 1, seed: 5, abnormalClass: 2 })).rejects.toThrow(/omit abnormalClass/);
  });
});
