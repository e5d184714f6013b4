import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { DataError, FASHION_MNIST_CLASSES, loadIdxFolder, parseIdx, readIdxFile } from '../../../src/data/index.js';
import { idxBytes, writeIdxFixture } from '../../fixtures/data/idx.js';

const tmp = mkdtempSync(join(tmpdir(), 'ganomaly-idx-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
function dir(name: string): string {
  const d = join(tmp, name);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  return d;
}

async function dataError(p: Promise<unknown>): Promise<DataError> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(DataError);
  expect((e as Error).name).toBe('DataError');
  return e as DataError;
}

describe('parseIdx', () => {
  it('reads dims and data of an unsigned-byte file', () => {
    const data = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i * 5);
    const a = parseIdx(idxBytes([2, 3, 4], data), 'x');
    expect(a.dims).toEqual([2, 3, 4]);
    expect([...a.data]).toEqual([...data]);
  });

  it.each([
    ['bad magic', Uint8Array.from([1, 0, 8, 1, 0, 0, 0, 0]), /not an IDX file/],
    ['too short', Uint8Array.from([0, 0]), /not an IDX file/],
    ['unknown type', idxBytes([1], Uint8Array.of(1), 0x42), /unknown data type 0x42/],
    ['float data', idxBytes([1], new Uint8Array(4), 0x0d), /float32 is not supported/],
    ['truncated header', idxBytes([2, 3, 4], new Uint8Array(24)).subarray(0, 10), /truncated IDX header/],
    ['truncated data', idxBytes([2, 3, 4], new Uint8Array(24)).subarray(0, 30), /truncated: header \[2, 3, 4\] needs 24 data bytes, file has 14/],
    ['trailing bytes', idxBytes([2], new Uint8Array(5)), /corrupt: 3 bytes after the 2/],
  ])('%s → DataError naming the file', (_, buf, msg) => {
    expect(() => parseIdx(buf, '/data/f-idx')).toThrow(DataError);
    expect(() => parseIdx(buf, '/data/f-idx')).toThrow(msg);
    expect(() => parseIdx(buf, '/data/f-idx')).toThrow(/^\/data\/f-idx: /);
  });
});

describe('readIdxFile', () => {
  it('gunzips by content and rejects truncated gzip', async () => {
    const d = dir('gz');
    const bytes = idxBytes([3], Uint8Array.of(7, 8, 9));
    writeFileSync(join(d, 'labels.gz'), gzipSync(bytes));
    expect([...(await readIdxFile(join(d, 'labels.gz'))).data]).toEqual([7, 8, 9]);
    const big = idxBytes([4000], Uint8Array.from({ length: 4000 }, (_, i) => (i * 13) & 255));
    const gz = gzipSync(big);
    writeFileSync(join(d, 'cut.gz'), gz.subarray(0, gz.length >> 1));
    const e = await dataError(readIdxFile(join(d, 'cut.gz')));
    expect(e.message).toContain(join(d, 'cut.gz'));
    expect(e.message).toMatch(/gzip data is corrupt or truncated/);
    const e2 = await dataError(readIdxFile(join(d, 'missing')));
    expect(e2.message).toMatch(/cannot read \(ENOENT\)/);
  });
});

describe('loadIdxFolder', () => {
  it('pools train (raw, dash naming) and t10k (gzip, dot naming) in order', async () => {
    const d = dir('pool');
    const want = writeIdxFixture(d, [
      { split: 'train', count: 25, naming: 'dash', gzip: false },
      { split: 't10k', count: 12, naming: 'dot', gzip: true },
    ], 28, 28, 4);
    const got = await loadIdxFolder(d);
    expect(got.count).toBe(37);
    expect([got.height, got.width]).toEqual([28, 28]);
    expect(Buffer.from(got.images).equals(Buffer.from(want.images))).toBe(true);
    expect([...got.labels]).toEqual([...want.labels]);
    expect(got.classNames).toEqual(['0', '1', '2', '3']);
    expect(got.parts.map((p) => [p.split, p.count])).toEqual([['train', 25], ['t10k', 12]]);
    expect(got.parts[1]!.imagesFile).toMatch(/t10k-images\.idx3-ubyte\.gz$/);
  });

  it('loads a single pair and applies given class names', async () => {
    const d = dir('single');
    writeIdxFixture(d, [{ split: 't10k', count: 10, naming: 'dash', gzip: true }]);
    const got = await loadIdxFolder(d, { classNames: FASHION_MNIST_CLASSES });
    expect(got.count).toBe(10);
    expect(got.classNames[9]).toBe('Ankle boot');
  });

  it('rejects missing, unpaired, mismatched and out-of-range files', async () => {
    const empty = dir('empty');
    expect((await dataError(loadIdxFolder(empty))).message).toMatch(/no IDX files found; expected train-images-idx3-ubyte/);
    expect((await dataError(loadIdxFolder(join(tmp, 'nope')))).message).toMatch(/cannot list IDX folder/);

    const unpaired = dir('unpaired');
    writeIdxFixture(unpaired, [{ split: 'train', count: 4, naming: 'dash', gzip: false }]);
    rmSync(join(unpaired, 'train-labels-idx1-ubyte'));
    expect((await dataError(loadIdxFolder(unpaired))).message).toMatch(/train-images-idx3-ubyte has no labels file/);

    const mismatch = dir('mismatch');
    writeIdxFixture(mismatch, [{ split: 'train', count: 4, naming: 'dash', gzip: false }]);
    writeFileSync(join(mismatch, 'train-labels-idx1-ubyte'), idxBytes([3], Uint8Array.of(0, 1, 2)));
    expect((await dataError(loadIdxFolder(mismatch))).message).toMatch(/3 labels for 4 images/);

    const range = dir('range');
    writeIdxFixture(range, [{ split: 'train', count: 12, naming: 'dash', gzip: false }], 28, 28, 12);
    expect((await dataError(loadIdxFolder(range, { classNames: FASHION_MNIST_CLASSES }))).message).toMatch(/label 11 out of range; this dataset has 10 classes/);

    const sizes = dir('sizes');
    writeIdxFixture(sizes, [{ split: 'train', count: 2, naming: 'dash', gzip: false }]);
    writeFileSync(join(sizes, 't10k-images-idx3-ubyte'), idxBytes([1, 4, 4], new Uint8Array(16)));
    writeFileSync(join(sizes, 't10k-labels-idx1-ubyte'), idxBytes([1], new Uint8Array(1)));
    expect((await dataError(loadIdxFolder(sizes))).message).toMatch(/images are 4x4 but .* has 28x28/);

    const truncated = dir('truncated');
    writeIdxFixture(truncated, [{ split: 'train', count: 3, naming: 'dash', gzip: false }]);
    const f = join(truncated, 'train-images-idx3-ubyte');
    writeFileSync(f, readFileSync(f).subarray(0, 1000));
    const e = await dataError(loadIdxFolder(truncated));
    expect(e.message).toContain(f);
    expect(e.message).toMatch(/truncated/);
  });
});

const FASHION = process.env.GANOMALY_FASHION_MNIST_DIR || '/usr/share/datasets/fashion-mnist';
const haveFashion = existsSync(join(FASHION, 'train-images-idx3-ubyte.gz')) || existsSync(join(FASHION, 'train-images-idx3-ubyte'));
if (!haveFashion) console.warn(`SKIP real Fashion-MNIST test: not found at ${FASHION} (apt-get install dataset-fashion-mnist)`);

describe.skipIf(!haveFashion)('real Fashion-MNIST (Debian dataset-fashion-mnist)', () => {
  it('has 70000 28x28 images, 7000 per class', async () => {
    const ds = await loadIdxFolder(FASHION, { classNames: FASHION_MNIST_CLASSES });
    expect(ds.count).toBe(70000);
    expect([ds.height, ds.width]).toEqual([28, 28]);
    expect(ds.parts.map((p) => p.count)).toEqual([60000, 10000]);
    const counts = new Array(10).fill(0);
    for (const l of ds.labels) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(7000));
  });
});
