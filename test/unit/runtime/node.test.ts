// The Node runtime against real model folders (seeded random weights, built by the ONNX writer):
// parity with a plain onnxruntime-node run, input kinds, provider fallback, typed errors,
// concurrency, and the web core on onnxruntime-web (WASM in Node).
import { mkdtemp, readFile, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Detector } from '../../../src/runtime/core/detector.js';
import type { RuntimePlatform } from '../../../src/runtime/core/platform.js';
import { nodePlatform } from '../../../src/runtime/node/platform.js';
import { webPlatform, type OrtWebModuleLike } from '../../../src/runtime/web/platform.js';
import {
  ChannelMismatchError,
  createDetector,
  DisposedError,
  ImageDecodeError,
  IntegrityError,
  InvalidImageError,
  ManifestError,
  ModelLoadError,
  ModelNotFoundError,
  ProviderError,
  inputSize,
  preprocessPixels,
  type NodeDetector,
  type ScoreResult,
} from '../../../src/runtime/node.js';
import type { RawImage } from '../../../src/runtime/core/pixels.js';
import { maxAbsDiff } from '../../helpers/compare.js';
import { directRun, makeModelFolder, testImage, TINY_CONFIG, writeModelFolder, type TestModel } from '../../helpers/make-model.js';
import { startWebServer, type WebServer } from '../../helpers/serve-web.js';

const ALL_OUTPUTS = ['z', 'zHat', 'reconstruction', 'anomalyMap'] as const;
const quiet = { warn: () => undefined };

let grey: TestModel;
let rgb: TestModel;
let work: string;
let server: WebServer;
const open: NodeDetector[] = [];

async function detectorFor(model: TestModel, extra: Partial<Parameters<typeof createDetector>[0]> = {}): Promise<NodeDetector> {
  const d = await createDetector({ model: model.dir, executionProviders: ['cpu'], logger: quiet, ...extra });
  open.push(d);
  return d;
}

/** Images of every channel count and assorted sizes (down- and up-sampling). */
const images: RawImage[] = [
  testImage(32, 32, 1, 1),
  testImage(45, 29, 3, 2),
  testImage(64, 64, 4, 3),
  testImage(20, 24, 2, 4),
  testImage(100, 80, 3, 5),
];

beforeAll(async () => {
  grey = await makeModelFolder(TINY_CONFIG, 7);
  // Non-power-of-two size and RGB: both break the reference implementation.
  rgb = await makeModelFolder({ ...TINY_CONFIG, nc: 3, isize: 48 }, 11);
  work = await mkdtemp(join(tmpdir(), 'ganomaly-runtime-'));
  server = await startWebServer({ model: grey.dir });
});

afterAll(async () => {
  await Promise.all(open.map((d) => d.dispose()));
  await server?.close();
});

function expectMatchesDirect(results: ScoreResult[], direct: Awaited<ReturnType<typeof directRun>>, model: TestModel, tol: number): void {
  const { isize, nc, nz } = model.cfg;
  const col = (name: string, i: number, size: number) => (direct[name]!.data as Float32Array).subarray(i * size, (i + 1) * size);
  results.forEach((r, i) => {
    expect(Math.abs(r.score - (direct.score!.data as Float32Array)[i]!)).toBeLessThanOrEqual(tol);
    expect(maxAbsDiff(r.z!, col('z', i, nz))).toBeLessThanOrEqual(tol);
    expect(maxAbsDiff(r.zHat!, col('z_hat', i, nz))).toBeLessThanOrEqual(tol);
    expect(maxAbsDiff(r.reconstruction!.data, col('x_hat', i, nc * isize * isize))).toBeLessThanOrEqual(tol);
    expect(maxAbsDiff(r.anomalyMap!.data, col('anomaly_map', i, isize * isize))).toBeLessThanOrEqual(tol);
    expect(r.reconstruction).toMatchObject({ channels: nc, height: isize, width: isize });
    expect(r.anomalyMap).toMatchObject({ channels: 1, height: isize, width: isize });
  });
}

describe('scores', () => {
  it.each([['grey 32', () => grey], ['rgb 48', () => rgb]])(
    '%s: every output equals a direct onnxruntime-node run on the shared pixel pipeline (≤1e-6)',
    async (_, model) => {
      const m = model();
      const d = await detectorFor(m);
      const results = await d.score(images, { outputs: ALL_OUTPUTS });
      expectMatchesDirect(results, await directRun(m.detector, images, m.manifest.preprocessing), m, 1e-6);
      const { min, max } = m.manifest.calibration;
      for (const r of results) {
        expect(r.normalized).toBeCloseTo(Math.min(1, Math.max(0, (r.score - min) / (max - min))), 12);
        expect(r.isAnomaly).toBe(r.score > m.manifest.threshold.value);
        expect(r.threshold).toBe(m.manifest.threshold.value);
      }
    },
  );

  it('returns one result for one image, [] for none, and only the outputs asked for', async () => {
    const d = await detectorFor(grey);
    const one = await d.score(images[1]!);
    expect(Array.isArray(one)).toBe(false);
    expect(Object.keys(one).sort()).toEqual(['isAnomaly', 'normalized', 'score', 'threshold']);
    expect(await d.score([])).toEqual([]);
    const [list] = await d.score([images[1]!], { outputs: ['anomalyMap'] });
    expect(list!.score).toBe(one.score);
    expect(list!.anomalyMap).toBeDefined();
    expect(list!.z).toBeUndefined();
  });

  it('applies a threshold override from the options and per call', async () => {
    const d = await detectorFor(grey, { threshold: 1e9 });
    const r = await d.score(images[0]!);
    expect(r).toMatchObject({ isAnomaly: false, threshold: 1e9 });
    expect(await d.score(images[0]!, { threshold: -1 })).toMatchObject({ isAnomaly: true, threshold: -1 });
  });

  it('scores files, encoded buffers and raw pixels identically', async () => {
    const d = await detectorFor(rgb);
    for (const [i, img] of images.slice(0, 3).entries()) {
      const file = join(work, `input-${i}.png`);
      const channels = img.channels as 1 | 3 | 4;
      await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels } }).png().toFile(file);
      const bytes = await readFile(file);
      const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
      const [fromPath, fromBuffer, fromArrayBuffer, fromRaw] = await d.score([file, bytes, ab, img]);
      expect(fromPath!.score).toBe(fromRaw!.score);
      expect(fromBuffer!.score).toBe(fromRaw!.score);
      expect(fromArrayBuffer!.score).toBe(fromRaw!.score);
    }
  });

  it('loads a model from a folder URL over http and from bytes in memory', async () => {
    const [a, b, c] = await Promise.all([
      detectorFor(grey),
      createDetector({ model: `${server.url}model/`, executionProviders: ['cpu'], logger: quiet }),
      createDetector({ model: { manifest: grey.manifest, detector: grey.detector }, executionProviders: ['cpu'], logger: quiet }),
    ]);
    open.push(b, c);
    const [ra, rb, rc] = await Promise.all([a, b, c].map((d) => d.score(images[2]!)));
    expect(rb!.score).toBe(ra!.score);
    expect(rc!.score).toBe(ra!.score);
  });

  it('batch-1 latency (logged, not asserted)', async () => {
    const d = await detectorFor(grey);
    const img = testImage(32, 32, 1, 9);
    const times: number[] = [];
    for (let i = 0; i < 60; i++) {
      const t = performance.now();
      await d.score(img);
      times.push(performance.now() - t);
    }
    times.sort((x, y) => x - y);
    console.log(`node cpu batch-1 latency (32x32x1, ngf 8, raw input): median ${times[30]!.toFixed(2)} ms`);
  });
});

describe('execution providers', () => {
  it("['cuda', 'cpu'] ends on a working provider and says once why cuda was skipped", async () => {
    const warn = vi.fn();
    const d = await createDetector({ model: grey.dir, executionProviders: ['cuda', 'cpu'], logger: { warn } });
    open.push(d);
    if (d.provider === 'cuda') {
      expect(warn).not.toHaveBeenCalled(); // a machine with the CUDA libraries
    } else {
      expect(d.provider).toBe('cpu');
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]![0]).toMatch(/execution provider 'cuda' \(.+\) unavailable; using 'cpu'/);
    }
    expect(await d.score(images[0]!)).toHaveProperty('score');
  });

  it('defaults to cuda then cpu', async () => {
    const warn = vi.fn();
    const d = await createDetector({ model: grey.dir, logger: { warn } });
    open.push(d);
    expect(['cuda', 'cpu']).toContain(d.provider);
    expect(warn).toHaveBeenCalledTimes(d.provider === 'cpu' ? 1 : 0);
  });

  it('throws ProviderError listing each failure when no provider works', async () => {
    const err = await createDetector({ model: grey.dir, executionProviders: ['no-such-ep'], logger: quiet }).catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).failures.map((f) => f.provider)).toEqual(['no-such-ep']);
    expect(err.message).toMatch(/no-such-ep/);
  });
});

describe('typed errors', () => {
  const copyModel = async (name: string, edit: (manifest: string, onnx: Uint8Array) => [string, Uint8Array]) => {
    const dir = await mkdtemp(join(work, `${name}-`));
    const [manifest, onnx] = edit(JSON.stringify(grey.manifest), grey.detector);
    await writeModelFolder(dir, manifest, onnx);
    return dir;
  };
  const fails = (model: string, extra = {}) => createDetector({ model, executionProviders: ['cpu'], logger: quiet, ...extra }).then(
    () => {
      throw new Error('createDetector succeeded');
    },
    (e: unknown) => e as Error,
  );

  it('ModelNotFoundError: missing folder, folder without manifest, missing detector.onnx, http 404', async () => {
    expect(await fails(join(work, 'nope'))).toBeInstanceOf(ModelNotFoundError);
    const empty = await mkdtemp(join(work, 'empty-'));
    const e = await fails(empty);
    expect(e).toBeInstanceOf(ModelNotFoundError);
    expect(e.message).toMatch(/manifest\.json/);
    await writeFile(join(empty, 'manifest.json'), JSON.stringify(grey.manifest));
    expect((await fails(empty)).message).toMatch(/detector\.onnx/);
    expect(await fails(`${server.url}no-model/`)).toBeInstanceOf(ModelNotFoundError);
    const file = join(work, 'not-a-folder.txt');
    await writeFile(file, 'x');
    expect(await fails(file)).toBeInstanceOf(ModelNotFoundError);
  });

  it('ManifestError: bad JSON, unsupported schemaVersion', async () => {
    const bad = await copyModel('badjson', (m, o) => [m.slice(0, -5), o]);
    const e1 = await fails(bad);
    expect(e1).toBeInstanceOf(ManifestError);
    expect(e1.message).toMatch(/not valid JSON/);
    const v2 = await copyModel('v2', (m, o) => [m.replace('"schemaVersion":1', '"schemaVersion":2'), o]);
    const e2 = await fails(v2);
    expect(e2).toBeInstanceOf(ManifestError);
    expect(e2.message).toMatch(/supported: 1/);
  });

  it('IntegrityError: one flipped byte (sha256) or a truncated file (size); ModelLoadError without the check', async () => {
    const flipped = await copyModel('flipped', (m, o) => {
      const copy = o.slice();
      copy[copy.length >> 1] ^= 0x01;
      return [m, copy];
    });
    const e1 = await fails(flipped);
    expect(e1).toBeInstanceOf(IntegrityError);
    expect(e1.message).toMatch(/sha256/);
    const truncated = await copyModel('truncated', (m, o) => [m, o.slice(0, o.length - 1000)]);
    const e2 = await fails(truncated);
    expect(e2).toBeInstanceOf(IntegrityError);
    expect(e2.message).toMatch(/bytes but the manifest says/);
    const e3 = await fails(truncated, { verifyIntegrity: false });
    expect(e3).toBeInstanceOf(ModelLoadError);
    expect(e3.message).toMatch(/protobuf/);
  });

  it('ImageDecodeError with the position of the bad image; other input errors are typed too', async () => {
    const d = await detectorFor(grey, { limitInputPixels: 100 * 100 });
    const text = join(work, 'not-an-image.png');
    await writeFile(text, 'hello');
    const big = await sharp({ create: { width: 101, height: 100, channels: 3, background: '#808080' } }).png().toBuffer();
    const cases: [unknown, new (...a: never[]) => Error, RegExp][] = [
      [Buffer.from('definitely not an image'), ImageDecodeError, /cannot decode/],
      [text, ImageDecodeError, /cannot decode .*not-an-image\.png/],
      [join(work, 'missing.png'), ImageDecodeError, /cannot read image file/],
      [big, ImageDecodeError, /pixel limit|exceeds/i],
      [new Uint8Array(0), ImageDecodeError, /empty/],
      [42, ImageDecodeError, /unsupported image input \(number\)/],
      [{ data: new Uint8Array(32 * 32 * 5), width: 32, height: 32, channels: 5 }, ChannelMismatchError, /5 channels/],
      [{ data: new Float32Array(32 * 32).fill(Number.NaN), width: 32, height: 32, channels: 1 }, InvalidImageError, /Uint8Array/],
      [{ data: new Uint8Array(10), width: 32, height: 32, channels: 1 }, InvalidImageError, /needs 1024/],
    ];
    for (const [bad, type, msg] of cases) {
      const e = (await d.score([images[0]!, bad as RawImage]).catch((x) => x)) as Error & { index?: number };
      expect(e, String(msg)).toBeInstanceOf(type);
      expect(e.message).toMatch(msg);
      expect(e.index).toBe(1);
    }
    expect(await d.score(images[0]!)).toHaveProperty('score'); // still usable afterwards
  });

  it('rejects unknown outputs, bad thresholds and use after dispose', async () => {
    const d = await createDetector({ model: grey.dir, executionProviders: ['cpu'], logger: quiet });
    await expect(d.score(images[0]!, { outputs: ['latent' as never] })).rejects.toThrow(/unknown output 'latent'/);
    // Numbers out of range are RangeErrors (option-ranges.ts); something that is not a number at all, a TypeError.
    await expect(d.score(images[0]!, { threshold: Number.NaN })).rejects.toThrow(/^threshold must be a finite number; got NaN$/);
    await expect(createDetector({ model: grey.dir, threshold: Infinity })).rejects.toThrow(RangeError);
    await expect(createDetector({ model: grey.dir, threshold: '0.5' as never })).rejects.toThrow(TypeError);
    await d.dispose();
    await expect(d.score(images[0]!)).rejects.toBeInstanceOf(DisposedError);
  });
});

/** The Node platform with a recorder on session.run: the real session, only observed. */
function recordingPlatform(base: RuntimePlatform, batches: number[]): RuntimePlatform {
  return {
    ...base,
    async createSession(model, provider) {
      const h = await base.createSession(model, provider);
      return {
        inputNames: h.inputNames,
        outputNames: h.outputNames,
        run(name, input, fetch) {
          batches.push(input.dims[0]!);
          return h.run(name, input, fetch);
        },
        release: () => h.release(),
      };
    },
  };
}

describe('concurrency', () => {
  it('20 parallel score() calls equal sequential results, coalesced into batches of at most maxBatch', async () => {
    const batches: number[] = [];
    const d = await Detector.create<RawImage>(recordingPlatform(nodePlatform({ limitInputPixels: 1e8 }), batches), {
      model: grey.dir,
      executionProviders: ['cpu'],
      maxBatch: 8,
      logger: quiet,
    });
    try {
      const calls = Array.from({ length: 20 }, (_, i) => Array.from({ length: 1 + (i % 3) }, (__, j) => testImage(30 + j, 34, 1 + (i % 4), 100 + i * 3 + j)));
      const sequential: ScoreResult[][] = [];
      for (const c of calls) sequential.push(await d.score(c, { outputs: ['anomalyMap'] }));
      const runsBefore = batches.length;
      const parallel = await Promise.all(calls.map((c) => d.score(c, { outputs: ['anomalyMap'] })));
      const parallelRuns = batches.slice(runsBefore);
      parallel.forEach((rs, i) =>
        rs.forEach((r, j) => {
          expect(Math.abs(r.score - sequential[i]![j]!.score)).toBeLessThanOrEqual(1e-6);
          expect(maxAbsDiff(r.anomalyMap!.data, sequential[i]![j]!.anomalyMap!.data)).toBeLessThanOrEqual(1e-6);
        }),
      );
      expect(parallelRuns.reduce((a, b) => a + b, 0)).toBe(calls.flat().length);
      expect(Math.max(...parallelRuns)).toBeLessThanOrEqual(8);
      expect(parallelRuns.length).toBeLessThan(calls.length);
    } finally {
      await d.dispose();
    }
  });

  it('splits one large call into runs of maxBatch', async () => {
    const batches: number[] = [];
    const d = await Detector.create<RawImage>(recordingPlatform(nodePlatform({ limitInputPixels: 1e8 }), batches), {
      model: grey.dir, executionProviders: ['cpu'], maxBatch: 4, logger: quiet,
    });
    const many = Array.from({ length: 10 }, (_, i) => testImage(33, 31, 3, 300 + i));
    const results = await d.score(many);
    await d.dispose();
    expect(batches).toEqual([1, 4, 4, 2]); // 1: the load-time probe of the manifest's input shape
    const direct = await directRun(grey.detector, many, grey.manifest.preprocessing);
    expect(maxAbsDiff(results.map((r) => r.score), direct.score!.data as Float32Array)).toBeLessThanOrEqual(1e-6);
  });
});

describe('decoding inside score()', () => {
  it('decodes at most decodeConcurrency images at once and keeps only their model inputs', async () => {
    const base = nodePlatform({ limitInputPixels: 1e8 });
    let now = 0;
    let peak = 0;
    const platform: RuntimePlatform = {
      ...base,
      async decodeImage(input) {
        peak = Math.max(peak, ++now);
        try {
          await new Promise((r) => setTimeout(r, 5));
          return await base.decodeImage(input);
        } finally {
          now--;
        }
      },
    };
    const d = await Detector.create<Uint8Array>(platform, { model: grey.dir, executionProviders: ['cpu'], maxBatch: 16, decodeConcurrency: 3, logger: quiet });
    try {
      const pngs = await Promise.all(images.concat(images).map((img) => sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: img.channels as 1 | 2 | 3 | 4 } }).png().toBuffer()));
      const results = await d.score(pngs);
      expect(peak).toBe(3);
      const direct = await directRun(grey.detector, images.concat(images), grey.manifest.preprocessing);
      expect(maxAbsDiff(results.map((r) => r.score), direct.score!.data as Float32Array)).toBeLessThanOrEqual(1e-6);
      // The failure reported is the first bad image in input order, whichever lane met it first.
      const bad = [pngs[0]!, Buffer.from('not an image'), pngs[1]!, Buffer.from('nor this')];
      const e = await d.score(bad).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ImageDecodeError);
      expect((e as ImageDecodeError).index).toBe(1);
    } finally {
      await d.dispose();
    }
    await expect(detectorFor(grey, { decodeConcurrency: 0 })).rejects.toThrow(/^decodeConcurrency must be an integer from 1 to 64 \(threads\); got 0$/);
  });

  it('scorePreprocessed(preprocessPixels(x)) equals score(x); wrong-size inputs are InvalidImageError', async () => {
    const d = await detectorFor(grey);
    const pre = d.manifest.preprocessing;
    const viaPixels = await d.score(images, { outputs: ['anomalyMap'] });
    const viaTensors = await d.scorePreprocessed(images.map((img) => preprocessPixels(img, pre)), { outputs: ['anomalyMap'] });
    expect(viaTensors.map((r) => r.score)).toEqual(viaPixels.map((r) => r.score));
    expect(maxAbsDiff(viaTensors[2]!.anomalyMap!.data, viaPixels[2]!.anomalyMap!.data)).toBe(0);
    expect((await d.scorePreprocessed(preprocessPixels(images[0]!, pre))).score).toBe(viaPixels[0]!.score);
    expect(inputSize(pre)).toBe(32 * 32);
    await expect(d.scorePreprocessed([new Float32Array(10)])).rejects.toThrow(InvalidImageError);
    await expect(d.scorePreprocessed([preprocessPixels(images[0]!, pre), new Uint8Array(1024) as unknown as Float32Array])).rejects.toThrow(/preprocessed input 1 must be a Float32Array of 1024 values/);
  });
});

describe('web core on onnxruntime-web (WASM, in Node)', () => {
  it('falls back from webgpu to wasm with one log line and matches Node (≤1e-4)', async () => {
    const ortWeb = (await import('onnxruntime-web')) as unknown as OrtWebModuleLike;
    const warn = vi.fn();
    const d = await Detector.create<RawImage>(webPlatform(async () => ortWeb, 'webgpu'), {
      model: { manifest: grey.manifest, detector: grey.detector },
      logger: { warn },
    });
    try {
      expect(d.provider).toBe('wasm');
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]![0]).toMatch(/'webgpu' .* unavailable; using 'wasm'/);
      const webResults = await d.score(images, { outputs: ALL_OUTPUTS });
      expectMatchesDirect(webResults, await directRun(grey.detector, images, grey.manifest.preprocessing), grey, 1e-4);
    } finally {
      await d.dispose();
    }
  });

  it('loads a model folder URL with fetch and verifies it with WebCrypto', async () => {
    const ortWeb = (await import('onnxruntime-web')) as unknown as OrtWebModuleLike;
    const d = await Detector.create<RawImage>(webPlatform(async () => ortWeb, 'webgpu'), { model: `${server.url}model/`, executionProviders: ['wasm'], logger: quiet });
    const node = await detectorFor(grey);
    const [a, b] = await Promise.all([d.score(images[3]!), node.score(images[3]!)]);
    await d.dispose();
    expect(Math.abs(a.score - b.score)).toBeLessThanOrEqual(1e-4);
    // A flipped byte behind a URL is caught the same way.
    const dir = await mkdtemp(join(work, 'served-'));
    await copyFile(join(grey.dir, 'manifest.json'), join(dir, 'manifest.json'));
    const bad = grey.detector.slice();
    bad[100] ^= 0xff;
    await writeFile(join(dir, 'detector.onnx'), bad);
    const other = await startWebServer({ model: dir });
    try {
      await expect(Detector.create(webPlatform(async () => ortWeb, 'webgpu'), { model: `${other.url}model`, executionProviders: ['wasm'] })).rejects.toBeInstanceOf(IntegrityError);
    } finally {
      await other.close();
    }
  });
});
