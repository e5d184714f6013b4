import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultPreprocessing, preprocessImage, resizeBilinear } from '../../../src/runtime/core/pixels.js';
import { DataError, FASHION_MNIST_CLASSES, loadDataset, loadIdxFolder, NAMED_DATASETS, resolveDataSpec, type Dataset } from '../../../src/data/index.js';
import { writeIdxFixture } from '../../fixtures/data/idx.js';

const tmp = mkdtempSync(join(tmpdir(), 'ganomaly-ds-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const idxDir = join(tmp, 'idx');
mkdirSync(idxDir);
// 60 + 40 images of 28x28, labels i % 10: 10 per class.
const fixture = writeIdxFixture(idxDir, [
  { split: 'train', count: 60, naming: 'dash', gzip: true },
  { split: 't10k', count: 40, naming: 'dot', gzip: false },
]);

function checkDisjointAndLabelled(ds: Dataset, isAbnormal: (poolIndex: number) => boolean): void {
  const seen = new Set<number>();
  for (const set of [ds.train, ds.validation, ds.test]) {
    for (let k = 0; k < set.count; k++) {
      const p = set.sources[k]!;
      expect(seen.has(p)).toBe(false);
      seen.add(p);
      expect(set.labels[k]).toBe(isAbnormal(p) ? 1 : 0);
    }
  }
  for (const set of [ds.train, ds.validation]) expect(set.labels.every((l) => l === 0)).toBe(true);
}

describe('resolveDataSpec', () => {
  const named = {
    ...NAMED_DATASETS,
    'fashion-mnist': { ...NAMED_DATASETS['fashion-mnist'], dir: join(tmp, 'not-installed') },
  };
  it('names the Debian package and the variable when Fashion-MNIST is absent', () => {
    expect(() => resolveDataSpec('fashion-mnist', {}, named)).toThrow(DataError);
    expect(() => resolveDataSpec('fashion-mnist', {}, named)).toThrow(
      /apt-get install dataset-fashion-mnist \(Debian\) or set GANOMALY_FASHION_MNIST_DIR/,
    );
    expect(() => resolveDataSpec('mnist', { GANOMALY_MNIST_DIR: join(tmp, 'nope') })).toThrow(/GANOMALY_MNIST_DIR=.*nope is not a directory/);
  });
  it('resolves env overrides, idx: and folder:', () => {
    expect(resolveDataSpec('fashion-mnist', { GANOMALY_FASHION_MNIST_DIR: idxDir }, named)).toMatchObject({ kind: 'idx', name: 'fashion-mnist', dir: idxDir });
    expect(resolveDataSpec('mnist', { GANOMALY_MNIST_DIR: idxDir })).toMatchObject({ kind: 'idx', name: 'mnist', classNames: NAMED_DATASETS.mnist.classNames });
    expect(resolveDataSpec(`idx:${idxDir}`, {})).toEqual({ kind: 'idx', name: 'idx', dir: idxDir });
    expect(resolveDataSpec(`folder:${tmp}`, {})).toEqual({ kind: 'folder', name: 'folder', dir: tmp });
  });
  it('lists the accepted forms for anything else', () => {
    for (const bad of ['cifar10', 'idx:', 'folder', 'toString', '']) {
      expect(() => resolveDataSpec(bad, {})).toThrow(/fashion-mnist', 'mnist', 'idx:<dir>'.*'folder:<dir>'/);
    }
    expect(() => resolveDataSpec(`idx:${join(tmp, 'missing')}`, {})).toThrow(/is not a directory/);
  });
});

describe('loadDataset on IDX', () => {
  const opts = { isize: 32, nc: 1 as const, abnormalClass: 3, seed: 11 };

  it('splits by the reference protocol and preprocesses with src/runtime/core/pixels.ts (28 → 32)', async () => {
    const ds = await loadDataset(`idx:${idxDir}`, opts);
    expect(ds.split).toEqual({ seed: 11, abnormalClass: '3', trainNormal: 65, validationNormal: 7, testNormal: 18, testAbnormal: 10 });
    expect(ds.pooled).toEqual({ normal: 90, abnormal: 10 });
    expect(ds.abnormalClassIndex).toBe(3);
    expect(ds.train.images.length).toBe(65 * 32 * 32);
    checkDisjointAndLabelled(ds, (p) => fixture.labels[p] === 3);
    const pre = defaultPreprocessing(32, 1);
    for (const set of [ds.train, ds.test]) {
      for (const k of [0, set.count - 1]) {
        const p = set.sources[k]!;
        const raw = { data: fixture.images.subarray(p * 784, (p + 1) * 784), width: 28, height: 28, channels: 1 };
        const want = preprocessImage(raw, pre, 'HWC');
        expect(set.images.subarray(k * 1024, (k + 1) * 1024)).toEqual(want);
        // Independent of preprocessImage: resize then (p/255 − 0.5)/0.5.
        const resized = resizeBilinear(raw, 32, 32);
        expect(set.images[k * 1024 + 517]).toBeCloseTo(resized[517]! / 127.5 - 1, 6);
      }
    }
    expect(ds.sourceName(0)).toBe('train-images-idx3-ubyte.gz[0]');
    expect(ds.sourceName(65)).toBe('t10k-images.idx3-ubyte[5]');
    let min = Infinity;
    let max = -Infinity;
    for (const v of ds.train.images) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBeGreaterThanOrEqual(-1);
    expect(max).toBeLessThanOrEqual(1);
  });

  it('is byte-identical for the same seed, different for another', async () => {
    const a = await loadDataset(`idx:${idxDir}`, opts);
    const b = await loadDataset(`idx:${idxDir}`, opts);
    const c = await loadDataset(`idx:${idxDir}`, { ...opts, seed: 12 });
    for (const name of ['train', 'validation', 'test'] as const) {
      expect(Buffer.from(a[name].images.buffer).equals(Buffer.from(b[name].images.buffer))).toBe(true);
      expect([...a[name].sources]).toEqual([...b[name].sources]);
    }
    expect([...c.train.sources]).not.toEqual([...a.train.sources]);
  });

  it('accepts the class by name, gives RGB on nc 3, and rejects unknown or missing classes', async () => {
    const rgb = await loadDataset(`idx:${idxDir}`, { ...opts, nc: 3, isize: 16, abnormalClass: '3', maxImages: 50 });
    expect(rgb.split).toMatchObject({ trainNormal: 32, validationNormal: 4, testNormal: 9, testAbnormal: 5 });
    expect(rgb.test.images.length).toBe(rgb.test.count * 16 * 16 * 3);
    const px = rgb.test.images.subarray(0, 3);
    expect(px[0]).toBe(px[1]);
    expect(px[1]).toBe(px[2]);
    await expect(loadDataset(`idx:${idxDir}`, { ...opts, abnormalClass: 10 })).rejects.toThrow(/unknown abnormal class '10'; choose one of: 0, 1/);
    await expect(loadDataset(`idx:${idxDir}`, { ...opts, abnormalClass: undefined })).rejects.toThrow(/choose the abnormal class/);
    await expect(loadDataset(`idx:${idxDir}`, { ...opts, isize: 0 })).rejects.toThrow(DataError);
    await expect(loadDataset(`idx:${idxDir}`, { ...opts, nc: 2 as 1 })).rejects.toThrow(/nc must be 1 or 3/);
  });
});

const FASHION = process.env.GANOMALY_FASHION_MNIST_DIR || '/usr/share/datasets/fashion-mnist';
const haveFashion = existsSync(FASHION);
if (!haveFashion) console.warn(`SKIP Fashion-MNIST split test: not found at ${FASHION} (apt-get install dataset-fashion-mnist)`);

describe.skipIf(!haveFashion)('Fashion-MNIST split, abnormal class 0, maxImages 2000', () => {
  it('keeps the 9:1 proportion, is deterministic, and keeps T-shirts out of train/validation', async () => {
    const opts = { isize: 32, nc: 1 as const, abnormalClass: 'T-shirt/top', seed: 42, maxImages: 2000 };
    const a = await loadDataset('fashion-mnist', opts);
    const b = await loadDataset('fashion-mnist', { ...opts, abnormalClass: 0 });
    expect(a.split).toEqual({ seed: 42, abnormalClass: 'T-shirt/top', trainNormal: 1296, validationNormal: 144, testNormal: 360, testAbnormal: 200 });
    expect(a.pooled).toEqual({ normal: 63000, abnormal: 7000 });
    expect(a.classNames).toEqual(FASHION_MNIST_CLASSES);
    for (const name of ['train', 'validation', 'test'] as const) {
      expect(Buffer.from(a[name].images.buffer).equals(Buffer.from(b[name].images.buffer))).toBe(true);
    }
    const raw = await loadIdxFolder(a.source.dir);
    checkDisjointAndLabelled(a, (p) => raw.labels[p] === 0);
    // Both the 60k train file and the 10k t10k file feed the pool.
    expect([...a.train.sources].some((p) => p >= 60000)).toBe(true);
  });
});
