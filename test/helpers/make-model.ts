// Builds a real model folder (manifest.json + detector.onnx) from seeded random weights, the way
// `ganomaly export` lays one out, so runtime tests need no trained model.
import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildDetector, convertDetectorPrecision, GRAPH_IO, VARIANT_FILES, VARIANT_WEIGHTS } from '../../src/export/onnx/index.js';
import { defaultPreprocessing, preprocessImage, type RawImage } from '../../src/runtime/core/pixels.js';
import { ORT_CONFIG_ENTRIES } from '../../src/runtime/core/ort-adapter.js';
import { randomWeights, seededRandom } from '../fixtures/random-weights.js';
import { MANIFEST_SCHEMA_VERSION, type Manifest, type ModelConfig } from '../../src/types.js';

// Keep ORT's own stderr log quiet in tests, as the runtime does for its users (node/platform.ts):
// the expected CUDA failure is reported by the runtime's logger, which the tests check.
if (ort.env.logLevel === 'warning') ort.env.logLevel = 'fatal';

// One source of seeded weights for every test: He-scaled so activations neither vanish nor explode.
export { randomWeights, seededRandom } from '../fixtures/random-weights.js';

export const TINY_CONFIG: ModelConfig = { isize: 32, nc: 1, nz: 16, ngf: 8, ndf: 8, scoreKind: 'l2' };

/** A deterministic test image: smooth gradients plus seeded noise, any size and channel count. */
export function testImage(width: number, height: number, channels: number, seed: number): RawImage {
  const rand = seededRandom(seed);
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        const base = (x * (3 + c) + y * (5 - c) + seed * 17) % 256;
        data[(y * width + x) * channels + c] = Math.min(255, Math.floor(base * 0.7 + rand() * 77));
      }
    }
  }
  return { data, width, height, channels };
}

export interface TestModel {
  dir: string;
  manifest: Manifest;
  detector: Uint8Array;
  cfg: ModelConfig;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Calibration statistics and a median threshold from real scores of a few "validation" images. */
async function calibrateTest(detector: Uint8Array, cfg: ModelConfig) {
  const pre = defaultPreprocessing(cfg.isize, cfg.nc);
  const scores = await directScores(detector, Array.from({ length: 8 }, (_, i) => testImage(40, 40, cfg.nc, 1000 + i)), pre);
  const sorted = [...scores].sort((a, b) => a - b);
  const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
  const std = Math.sqrt(scores.reduce((a, b) => a + (b - mean) ** 2, 0) / scores.length);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  return {
    calibration: { count: scores.length, min: sorted[0]!, max: sorted[sorted.length - 1]!, mean, std, p50: q(0.5), p95: q(0.95), p99: q(0.99) },
    threshold: { value: q(0.5), rule: 'test: median of calibration scores' },
  };
}

export interface TestModelOptions {
  /** Also write detector.fp16.onnx and detector.int8.onnx with their own calibration (as export does). */
  variants?: boolean;
}

/** Writes manifest.json + detector.onnx into a new temp folder. Calibration comes from real scores. */
export async function makeModelFolder(cfg: ModelConfig = TINY_CONFIG, seed = 7, opts: TestModelOptions = {}): Promise<TestModel> {
  const detector = buildDetector(cfg, randomWeights(cfg, seed));
  const pre = defaultPreprocessing(cfg.isize, cfg.nc);
  const { calibration, threshold } = await calibrateTest(detector, cfg);
  const manifest: Manifest = {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    name: `test-${cfg.isize}-${cfg.nc}`,
    createdAt: new Date(0).toISOString(),
    input: { name: 'x', shape: ['N', cfg.nc, cfg.isize, cfg.isize], dtype: 'float32' },
    preprocessing: pre,
    score: { kind: cfg.scoreKind, description: 'mean over nz of (z - z_hat)^2' },
    calibration,
    threshold,
    files: {
      'detector.onnx': {
        sha256: sha256(detector),
        bytes: detector.length,
        inputs: [...GRAPH_IO.detector.inputs],
        outputs: [...GRAPH_IO.detector.outputs],
      },
    },
    model: cfg,
    training: {},
    split: null,
    opset: 17,
    tools: { test: 'make-model.ts' },
    parity: null,
  };
  const dir = await mkdtemp(join(tmpdir(), 'ganomaly-model-'));
  if (opts.variants) {
    manifest.variants = {};
    for (const p of ['fp16', 'int8'] as const) {
      const bytes = convertDetectorPrecision(detector, p);
      await writeFile(join(dir, VARIANT_FILES[p]), bytes);
      manifest.files[VARIANT_FILES[p]] = { ...manifest.files['detector.onnx']!, sha256: sha256(bytes), bytes: bytes.length };
      manifest.variants[p] = { file: VARIANT_FILES[p], weights: VARIANT_WEIGHTS[p], ...(await calibrateTest(bytes, cfg)), parityVsFp32: { images: 0 } };
    }
  }
  await writeModelFolder(dir, manifest, detector);
  return { dir, manifest, detector, cfg };
}

export async function writeModelFolder(dir: string, manifest: unknown, detector: Uint8Array): Promise<void> {
  await writeFile(join(dir, 'manifest.json'), typeof manifest === 'string' ? manifest : JSON.stringify(manifest, null, 2));
  await writeFile(join(dir, 'detector.onnx'), detector);
}

/** Reference path: the shared pixel code + a plain onnxruntime-node session, no runtime code. */
export async function directRun(
  detector: Uint8Array,
  images: RawImage[],
  pre: ReturnType<typeof defaultPreprocessing>,
): Promise<Record<string, ort.Tensor>> {
  const nc = pre.channelOrder === 'gray' ? 1 : 3;
  const { width: w, height: h } = pre.resize;
  const size = nc * w * h;
  const x = new Float32Array(images.length * size);
  images.forEach((img, i) => preprocessImage(img, pre, 'CHW', x, i * size));
  const session = await ort.InferenceSession.create(detector, { executionProviders: ['cpu'], extra: ORT_CONFIG_ENTRIES });
  try {
    return await session.run({ x: new ort.Tensor('float32', x, [images.length, nc, h, w]) });
  } finally {
    await session.release();
  }
}

export async function directScores(detector: Uint8Array, images: RawImage[], pre: ReturnType<typeof defaultPreprocessing>): Promise<number[]> {
  const out = await directRun(detector, images, pre);
  return Array.from(out.score!.data as Float32Array);
}

/** A valid manifest for a grey 32×32 model, its file entry made up: for tests of manifest handling without a graph. */
export function validManifest(): Manifest {
  const cfg = { isize: 32, nc: 1 as const, nz: 16, ngf: 8, ndf: 8, scoreKind: 'l2' as const };
  return {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    name: 'unit',
    createdAt: '2026-01-01T00:00:00.000Z',
    input: { name: 'x', shape: ['N', 1, 32, 32], dtype: 'float32' },
    preprocessing: defaultPreprocessing(32, 1),
    score: { kind: 'l2', description: '' },
    calibration: { count: 10, min: 0.1, max: 0.5, mean: 0.3, std: 0.1, p50: 0.3, p95: 0.45, p99: 0.49 },
    threshold: { value: 0.4, rule: 'p99' },
    files: { 'detector.onnx': { sha256: 'a'.repeat(64), bytes: 1234, inputs: ['x'], outputs: ['score', 'z', 'z_hat', 'x_hat', 'anomaly_map'] } },
    model: cfg,
    training: {},
    split: null,
    opset: 17,
    tools: {},
    parity: null,
  };
}
