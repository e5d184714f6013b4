// Patch models in the runtime: the tile grid, cutting (the same floats as whole-image
// preprocessing of the tile's pixels), the frame score as the max of tiles scored one by one
// through a plain ONNX Runtime session, the reassembled map, and typed errors for bad tilings.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Detector } from '../../../src/runtime/core/detector.js';
import { webPlatform, type OrtWebModuleLike } from '../../../src/runtime/web/platform.js';
import {
  createDetector,
  cutFrameTiles,
  defaultPreprocessing,
  InvalidImageError,
  ManifestError,
  preprocessPixels,
  tileGrid,
  tilingProblems,
  type Manifest,
  type NodeDetector,
  type RawImage,
  type Tiling,
} from '../../../src/runtime/node.js';
import { tileStarts } from '../../../src/runtime/core/tiling.js';
import { manifestCoreSha256 } from '../../../src/runtime/core/manifest-core.js';
import { directRun, makeModelFolder, testImage, validManifest, writeModelFolder, type TestModel } from '../../helpers/make-model.js';

const quiet = { warn: () => {} };

function crop(img: RawImage, x: number, y: number, w: number, h: number): RawImage {
  const c = img.channels;
  const data = new Uint8Array(w * h * c);
  for (let r = 0; r < h; r++) data.set(img.data.subarray(((y + r) * img.width + x) * c, ((y + r) * img.width + x + w) * c), r * w * c);
  return { data, width: w, height: h, channels: c };
}

async function tiledModel(tiling: Tiling): Promise<TestModel> {
  const m = await makeModelFolder();
  const manifest: Manifest = { ...m.manifest, tiling };
  await writeModelFolder(m.dir, manifest, m.detector);
  return { ...m, manifest };
}

describe('tile grid', () => {
  it('steps by the stride and moves the last tile in to end at the edge', () => {
    expect(tileStarts(128, 32, 32)).toEqual([0, 32, 64, 96]);
    expect(tileStarts(100, 32, 32)).toEqual([0, 32, 64, 68]);
    expect(tileStarts(64, 32, 16)).toEqual([0, 16, 32]);
    expect(tileStarts(32, 32, 7)).toEqual([0]);
    expect(tileGrid(128, 96, { tile: 32, stride: 32 })).toHaveLength(12);
    expect(tileGrid(128, 96, { tile: 32, stride: 32 })[5]).toEqual({ x: 32, y: 32, width: 32, height: 32 });
  });

  it('refuses a frame smaller than one tile with a typed error, never resizing it up', () => {
    expect(() => tileGrid(31, 200, { tile: 32, stride: 32 })).toThrow(InvalidImageError);
    const pre = defaultPreprocessing(32, 1);
    expect(() => cutFrameTiles(testImage(20, 40, 1, 1), { tile: 32, stride: 32, frame: 'any', reduce: 'max' }, pre)).toThrow(/smaller than one 32x32 tile/);
  });

  it('names every problem of a bad tiling block', () => {
    expect(tilingProblems({ tile: 32, stride: 0, frame: 'any', reduce: 'max' })[0]).toMatch(/stride must be a positive integer/);
    expect(tilingProblems({ tile: 32, stride: 33, frame: 'any', reduce: 'max' })[0]).toMatch(/larger than the tile/);
    expect(tilingProblems({ tile: 32, stride: 32, frame: { width: 16, height: 64 }, reduce: 'max' })[0]).toMatch(/smaller than one 32-pixel tile/);
    expect(tilingProblems({ tile: 32, stride: 32, frame: 'any', reduce: 'mean' })[0]).toMatch(/reduce must be 'max'/);
    expect(tilingProblems({ tile: 64, stride: 32, frame: 'any', reduce: 'max' }, 'tiling', 32)[0]).toMatch(/not the model's input size 32/);
    expect(tilingProblems({ tile: 32, stride: 1, frame: { width: 8192, height: 8192 }, reduce: 'max' })[0]).toMatch(/tiles per frame, more than/);
    expect(tilingProblems({ tile: 32, stride: 16, frame: { width: 128, height: 96 }, reduce: 'max' })).toEqual([]);
  });
});

describe('cutting tiles', () => {
  const pre = defaultPreprocessing(32, 1);

  it('gives each tile exactly the floats whole-image preprocessing gives its pixels (frame at its own size)', () => {
    const frame = testImage(100, 70, 3, 4); // RGB frame, grey model: channels converted per tile as for a whole image
    const cut = cutFrameTiles(frame, { tile: 32, stride: 32, frame: 'any', reduce: 'max' }, pre);
    expect(cut.count).toBe(4 * 3);
    cut.boxes.forEach((b, k) => {
      const want = preprocessPixels(crop(frame, b.x, b.y, b.width, b.height), pre);
      expect(Array.from(cut.data.subarray(k * cut.per, (k + 1) * cut.per))).toEqual(Array.from(want));
    });
  });

  it('writes the same values in HWC (training) as in CHW (scoring)', () => {
    const frame = testImage(64, 64, 1, 9);
    const t: Tiling = { tile: 32, stride: 16, frame: 'any', reduce: 'max' };
    const chw = cutFrameTiles(frame, t, pre, 'CHW');
    const hwc = cutFrameTiles(frame, t, pre, 'HWC');
    expect(Array.from(hwc.data)).toEqual(Array.from(chw.data)); // one channel: the layouts coincide
  });

  it('resizes to a fixed tiling frame first and reports boxes in the image’s own pixels', () => {
    const frame = testImage(256, 256, 1, 2);
    const cut = cutFrameTiles(frame, { tile: 32, stride: 32, frame: { width: 128, height: 128 }, reduce: 'max' }, pre);
    expect(cut.count).toBe(16);
    expect(cut.frame).toEqual({ width: 128, height: 128 });
    expect(cut.source).toEqual({ width: 256, height: 256 });
  });
});

describe('a patch model in the Node runtime', () => {
  let model: TestModel;
  let overlap: TestModel;
  let detector: NodeDetector;
  const frame = testImage(128, 96, 1, 21);

  beforeAll(async () => {
    model = await tiledModel({ tile: 32, stride: 32, frame: 'any', reduce: 'max' });
    overlap = await tiledModel({ tile: 32, stride: 16, frame: 'any', reduce: 'max' });
    detector = await createDetector({ model: model.dir, executionProviders: ['cpu'], logger: quiet, maxBatch: 5 });
  });
  afterAll(async () => {
    await detector?.dispose();
  });

  it('scores a frame as the max of its tiles scored one by one through ONNX Runtime', async () => {
    const r = await detector.score(frame, { outputs: ['tiles', 'anomalyMap', 'z'] });
    const boxes = tileGrid(128, 96, { tile: 32, stride: 32 });
    const direct = await directRun(model.detector, boxes.map((b) => crop(frame, b.x, b.y, b.width, b.height)), model.manifest.preprocessing);
    const scores = Array.from(direct.score!.data as Float32Array);
    const worst = scores.indexOf(Math.max(...scores));
    expect(Math.abs(r.score - scores[worst]!)).toBeLessThanOrEqual(1e-6);
    expect(r.worstTile!.box).toEqual(boxes[worst]);
    expect(r.tiles!.map((t) => t.box)).toEqual(boxes);
    r.tiles!.forEach((t, k) => expect(Math.abs(t.score - scores[k]!)).toBeLessThanOrEqual(1e-6));
    expect(r.isAnomaly).toBe(r.score > detector.threshold);
    // The map has the frame's size and, without overlap, each tile's own map in its square.
    expect([r.anomalyMap!.width, r.anomalyMap!.height, r.anomalyMap!.channels]).toEqual([128, 96, 1]);
    const maps = direct.anomaly_map!.data as Float32Array;
    boxes.forEach((b, k) => {
      for (let y = 0; y < 32; y += 7) for (let x = 0; x < 32; x += 5) {
        expect(r.anomalyMap!.data[(b.y + y) * 128 + b.x + x]).toBe(maps[k * 1024 + y * 32 + x]);
      }
    });
    expect(Array.from(r.z!)).toEqual(Array.from((direct.z!.data as Float32Array).subarray(worst * 16, worst * 16 + 16)));
  });

  it('averages overlapping tiles in the map and keeps single-cover pixels exact', async () => {
    const d = await createDetector({ model: overlap.dir, executionProviders: ['cpu'], logger: quiet });
    try {
      const f = testImage(64, 32, 1, 3);
      const r = await d.score(f, { outputs: ['anomalyMap', 'tiles'] });
      expect(r.tiles!.map((t) => t.box.x)).toEqual([0, 16, 32]);
      const direct = await directRun(overlap.detector, [0, 16, 32].map((x) => crop(f, x, 0, 32, 32)), overlap.manifest.preprocessing);
      const maps = direct.anomaly_map!.data as Float32Array;
      const at = (k: number, x: number, y: number) => maps[k * 1024 + y * 32 + x]!;
      expect(r.anomalyMap!.data[5 * 64 + 3]).toBe(at(0, 3, 5)); // only tile 0
      expect(r.anomalyMap!.data[5 * 64 + 20]).toBeCloseTo((at(0, 20, 5) + at(1, 4, 5)) / 2, 6); // tiles 0 and 1
    } finally {
      await d.dispose();
    }
  });

  it('gives the same frame scores for a list as one by one, and through scoreTiles', async () => {
    const frames = [frame, testImage(64, 64, 3, 5), testImage(200, 33, 1, 6)];
    const all = await detector.score(frames);
    for (let i = 0; i < frames.length; i++) expect((await detector.score(frames[i]!)).score).toBe(all[i]!.score);
    const cut = cutFrameTiles(frames[1]!, detector.tiling!, detector.manifest.preprocessing);
    expect((await detector.scoreTiles(cut)).score).toBe(all[1]!.score);
  });

  it('refuses a frame smaller than a tile, and tile outputs from a whole-image model', async () => {
    await expect(detector.score(testImage(31, 64, 1, 1))).rejects.toBeInstanceOf(InvalidImageError);
    const whole = await makeModelFolder();
    const d = await createDetector({ model: whole.dir, executionProviders: ['cpu'], logger: quiet });
    try {
      await expect(d.score(frame, { outputs: ['tiles'] })).rejects.toThrow(TypeError);
      expect((await d.score(frame)).worstTile).toBeUndefined();
    } finally {
      await d.dispose();
    }
  });

  it('refuses a manifest whose tiling disagrees with the graph or is malformed', async () => {
    for (const tiling of [
      { tile: 64, stride: 64, frame: 'any', reduce: 'max' },
      { tile: 32, stride: 0, frame: 'any', reduce: 'max' },
      { tile: 32, stride: 32, frame: 'big', reduce: 'max' },
    ]) {
      const m = await makeModelFolder();
      await writeModelFolder(m.dir, { ...m.manifest, tiling }, m.detector);
      await expect(createDetector({ model: m.dir, executionProviders: ['cpu'], logger: quiet })).rejects.toBeInstanceOf(ManifestError);
    }
  });

  it('hashes the tiling into the manifest core, and leaves whole-image manifests’ hash as it was', () => {
    const base = validManifest();
    const tiled = { ...base, tiling: { tile: 32, stride: 32, frame: 'any', reduce: 'max' } };
    const { tiling: _, ...again } = tiled;
    expect(manifestCoreSha256(tiled)).not.toBe(manifestCoreSha256(base));
    expect(manifestCoreSha256(again)).toBe(manifestCoreSha256(base));
  });

  it('gives the same frame scores on onnxruntime-web (WASM, in Node) within 1e-4', async () => {
    const ortWeb = (await import('onnxruntime-web')) as unknown as OrtWebModuleLike;
    const web = await Detector.create<RawImage>(webPlatform(async () => ortWeb, 'webgpu'), {
      model: { manifest: model.manifest, detector: model.detector }, executionProviders: ['wasm'], logger: quiet,
    });
    try {
      const frames = [frame, testImage(96, 96, 1, 8)];
      const [a, b] = [await web.score(frames), await detector.score(frames)];
      a.forEach((r, i) => {
        expect(Math.abs(r.score - b[i]!.score)).toBeLessThanOrEqual(1e-4);
        expect(r.worstTile!.box).toEqual(b[i]!.worstTile!.box);
      });
    } finally {
      await web.dispose();
    }
  });
});
