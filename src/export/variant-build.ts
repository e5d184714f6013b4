// FP16 and INT8 variants of detector.onnx, built in memory: converted from the float32 graph,
// validated, calibrated on the validation normals through ONNX Runtime (their own statistics and
// threshold, never copied from float32), and compared with float32 output by output. No Node
// modules: `ganomaly export` (variants.ts) and the browser export share it.
import type { ModelConfig, Precision, PrecisionVariant } from '../types.js';
import { PRECISIONS } from '../types.js';
import { calibrate, type CalibrationSet, type ThresholdRule } from './calibrate.js';
import { ExportError } from './errors.js';
import { nhwcToNchw } from './layout.js';
import { convertDetectorPrecision, INPUT_NAME, validateModelBytes, VARIANT_FILES, VARIANT_WEIGHTS, type ReducedPrecision } from './onnx/index.js';
import type { OrtRunner } from './ort-runner.js';

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

async function outputsOf(runner: OrtRunner, bytes: Uint8Array, x: Float32Array, dims: number[]): Promise<Record<string, Float32Array>> {
  const session = await runner.create(bytes);
  try {
    return await runner.run(session, INPUT_NAME, x, dims);
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
  val: CalibrationSet,
  precisions: readonly Precision[],
  rule: ThresholdRule,
  runner: OrtRunner,
  parityImages = 16,
  onProgress?: (stage: string) => void,
): Promise<BuiltVariant[]> {
  const per = cfg.isize * cfg.isize * cfg.nc;
  const n = Math.min(parityImages, val.count);
  const dims = [n, cfg.nc, cfg.isize, cfg.isize];
  const x = nhwcToNchw(val.images.subarray(0, n * per), n, cfg.isize, cfg.isize, cfg.nc);
  const reference = await outputsOf(runner, fp32, x, dims);
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
    const cal = await calibrate(cfg, bytes, val, rule, runner);
    const got = await outputsOf(runner, bytes, x, dims);
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

