// FP16 and INT8 variants of detector.onnx: converted from the float32 graph, validated, calibrated
// on the validation normals through ONNX Runtime (their own statistics and threshold, never copied
// from float32), and compared with float32 output by output. Used by `ganomaly export` and, for a
// model folder that already exists, by `ganomaly quantize`.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseManifest } from '@ganomaly-edge/runtime/node';
import { writeFileAtomic } from '../train/checkpoint.js';
import { loadDataset } from '../train/data/index.js';
import type { Manifest, ModelConfig, Precision, PrecisionVariant } from '../types.js';
import { PRECISIONS } from '../types.js';
import { calibrate, type ThresholdRule } from './calibrate.js';
import { ExportError } from './errors.js';
import { nhwcToNchw } from './layout.js';
import { sha256Hex } from './manifest.js';
import { convertDetectorPrecision, GRAPH_IO, validateModelBytes, VARIANT_FILES, VARIANT_WEIGHTS, type ReducedPrecision } from './onnx/index.js';
import { createCpuSession, runFloat } from './ortNode.js';

export interface BuiltVariant {
  precision: ReducedPrecision;
  bytes: Uint8Array;
  variant: PrecisionVariant;
}

/** Parses '--precision fp32,fp16,int8'; fp32 is always exported (the other two derive from it). */
export function parsePrecisions(list: string | readonly string[]): Precision[] {
  const items = (typeof list === 'string' ? list.split(',') : [...list]).map((s) => s.trim().toLowerCase()).filter(Boolean);
  const bad = items.filter((p) => !(PRECISIONS as readonly string[]).includes(p));
  if (bad.length > 0) throw new ExportError(`unknown precision ${bad.map((b) => `'${b}'`).join(', ')}; use fp32, fp16 and/or int8`);
  return PRECISIONS.filter((p) => p === 'fp32' || items.includes(p));
}

async function outputsOf(bytes: Uint8Array, x: Float32Array, dims: number[]): Promise<Record<string, Float32Array>> {
  const session = await createCpuSession(bytes);
  try {
    return await runFloat(session, 'x', x, dims);
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * Builds, checks and calibrates each requested variant. `val` holds validation-normal images in
 * NHWC float32 (the preprocessing's output), as exportRun loads them.
 */
export async function buildVariants(
  cfg: ModelConfig,
  fp32: Uint8Array,
  val: { images: Float32Array; count: number },
  precisions: readonly Precision[],
  rule: ThresholdRule,
  parityImages = 16,
  onProgress?: (stage: string) => void,
): Promise<BuiltVariant[]> {
  const per = cfg.isize * cfg.isize * cfg.nc;
  const n = Math.min(parityImages, val.count);
  const dims = [n, cfg.nc, cfg.isize, cfg.isize];
  const x = nhwcToNchw(val.images.subarray(0, n * per), n, cfg.isize, cfg.isize, cfg.nc);
  const reference = await outputsOf(fp32, x, dims);
  const out: BuiltVariant[] = [];
  for (const precision of precisions) {
    if (precision === 'fp32') continue;
    onProgress?.(`building ${precision}`);
    const bytes = convertDetectorPrecision(fp32, precision);
    try {
      validateModelBytes(bytes);
    } catch (e) {
      throw new ExportError(`${VARIANT_FILES[precision]} failed structural validation: ${(e as Error).message}`);
    }
    onProgress?.(`calibrating ${precision}`);
    const cal = await calibrate(cfg, bytes, val.images, val.count, rule);
    const got = await outputsOf(bytes, x, dims);
    const parity: PrecisionVariant['parityVsFp32'] = { images: n };
    for (const [name, ref] of Object.entries(reference)) parity[name] = maxAbsDiff(got[name]!, ref);
    if (!Object.values(got).every((t) => t.every(Number.isFinite))) {
      throw new ExportError(`${VARIANT_FILES[precision]} produced non-finite outputs on validation images`);
    }
    out.push({
      precision,
      bytes,
      variant: { file: VARIANT_FILES[precision], weights: VARIANT_WEIGHTS[precision], calibration: cal.stats, threshold: cal.threshold, parityVsFp32: parity },
    });
  }
  return out;
}

/** Writes each variant's file and returns the manifest fields that describe them. */
export async function writeVariants(outDir: string, built: readonly BuiltVariant[]): Promise<{ files: Manifest['files']; variants: NonNullable<Manifest['variants']> }> {
  const files: Manifest['files'] = {};
  const variants: NonNullable<Manifest['variants']> = {};
  for (const b of built) {
    await writeFileAtomic(path.join(outDir, b.variant.file), b.bytes);
    files[b.variant.file] = { sha256: sha256Hex(b.bytes), bytes: b.bytes.length, inputs: [...GRAPH_IO.detector.inputs], outputs: [...GRAPH_IO.detector.outputs] };
    variants[b.precision] = b.variant;
  }
  return { files, variants };
}

export interface QuantizeOptions {
  /** Variants to (re)build; default fp16 and int8. */
  precisions?: readonly Precision[];
  /** Data spec, when the data moved since training (default: manifest.training.data). */
  data?: string;
  /** Threshold quantile (default: the one in the float32 threshold's rule, else 0.99). */
  thresholdQuantile?: number;
  onProgress?: (stage: string) => void;
}

/**
 * Adds FP16/INT8 variants to a model folder `ganomaly export` wrote: the validation normals come
 * from the manifest's own data, seed and split (checked against manifest.split), so a prebuilt
 * model gets variants calibrated exactly as a fresh export would calibrate them.
 */
export async function quantizeModel(modelDir: string, opts: QuantizeOptions = {}): Promise<Manifest> {
  const dir = path.resolve(modelDir);
  const progress = opts.onProgress ?? (() => {});
  const manifestPath = path.join(dir, 'manifest.json');
  const text = await fs.readFile(manifestPath, 'utf8').catch((e: Error) => {
    throw new ExportError(`cannot read ${manifestPath}: ${e.message}`);
  });
  const manifest = parseManifest(text, manifestPath);
  const fp32 = new Uint8Array(await fs.readFile(path.join(dir, 'detector.onnx')));
  if (sha256Hex(fp32) !== manifest.files['detector.onnx']!.sha256) {
    throw new ExportError(`${dir}/detector.onnx does not match the manifest's sha256; re-export the model first`);
  }
  const t = manifest.training as { data?: string; abnormalClass?: string | null; maxImages?: number | null; seed?: number; validationFraction?: number };
  const spec = opts.data ?? t.data;
  if (typeof spec !== 'string' || typeof t.seed !== 'number' || typeof t.validationFraction !== 'number') {
    throw new ExportError(`${manifestPath} lacks training.data/seed/validationFraction, so its validation split cannot be rebuilt; pass --data`);
  }
  progress('loading validation images');
  const data = await loadDataset(spec, {
    isize: manifest.model.isize, nc: manifest.model.nc, abnormalClass: t.abnormalClass ?? undefined,
    maxImages: t.maxImages ?? undefined, seed: t.seed, validationFraction: t.validationFraction,
  });
  if (manifest.split && manifest.split.validationNormal !== data.split.validationNormal) {
    throw new ExportError(
      `the data gives ${data.split.validationNormal} validation images but the model was calibrated on ${manifest.split.validationNormal}; point --data at the data it was trained on`,
    );
  }
  const q = opts.thresholdQuantile ?? Number(/quantile ([\d.]+)/.exec(manifest.threshold.rule)?.[1] ?? 0.99);
  const rule: ThresholdRule = /^absolute/.test(manifest.threshold.rule) ? { value: manifest.threshold.value } : { quantile: q };
  const precisions = opts.precisions ?? ['fp16', 'int8'];
  const built = await buildVariants(manifest.model, fp32, data.validation, precisions, rule, 16, progress);
  const { files, variants } = await writeVariants(dir, built);
  const next: Manifest = { ...manifest, files: { ...manifest.files, ...files }, variants: { ...manifest.variants, ...variants } };
  await writeFileAtomic(manifestPath, `${JSON.stringify(next, null, 2)}\n`);
  return next;
}
