// Writing FP16/INT8 variants into a model folder, and adding them to a folder that already exists
// (`ganomaly quantize`). Building them is variant-build.ts.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { MANIFEST_FILE } from '@ganomaly-edge/runtime/node';
import { writeFileAtomic } from '../io/write-atomic.js';
import { loadDataset } from '../data/index.js';
import type { StageEvent } from '../progress.js';
import { PRECISIONS, type Manifest, type Precision } from '../types.js';
import { checkThresholdRule, thresholdRuleOf, type ThresholdRule } from './calibrate.js';
import { ExportError } from './errors.js';
import { sha256Hex } from './hash.js';
import { GRAPH_IO } from './onnx/index.js';
import { nodeOrt } from './ortNode.js';
import { openUpdateTarget } from './output.js';
import { readExportedModel } from './read-model.js';
import { buildVariants, type BuiltVariant } from './variant-build.js';

export { buildVariants, parsePrecisions, type BuiltVariant } from './variant-build.js';

/** Writes each variant's file and returns the manifest fields that describe them. */
async function writeVariants(outDir: string, built: readonly BuiltVariant[]): Promise<{ files: Manifest['files']; variants: NonNullable<Manifest['variants']> }> {
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
  /** Threshold quantile (default: the rule of the float32 threshold, see thresholdRuleOf). */
  thresholdQuantile?: number;
  onProgress?: (e: StageEvent) => void;
}

/**
 * Adds FP16/INT8 variants to a model folder `ganomaly export` wrote: the validation normals come
 * from the manifest's own data, seed and split (checked against manifest.split), so a prebuilt
 * model gets variants calibrated exactly as a fresh export would calibrate them. The folder is
 * changed the way an export writes one (lock, staged copy, one swap).
 */
export async function quantizeModel(modelDir: string, opts: QuantizeOptions = {}): Promise<Manifest> {
  if (opts.thresholdQuantile !== undefined) checkThresholdRule({ quantile: opts.thresholdQuantile });
  const precisions = opts.precisions ?? ['fp16', 'int8'];
  const unknown = precisions.filter((p) => !(PRECISIONS as readonly string[]).includes(p));
  if (unknown.length) throw new RangeError(`precisions must be fp16 and/or int8; got ${unknown.join(', ')}`);
  const progress = (stage: string) => opts.onProgress?.({ kind: 'stage', stage });
  // The live folder is read first: a FIFO, a device or an oversize graph is refused before the
  // folder is copied (a 3 GiB file took 28 s to copy before being refused).
  const live = path.resolve(modelDir);
  if (await fs.stat(live).then((s) => s.isDirectory(), () => false)) await readExportedModel(live);
  const target = await openUpdateTarget(modelDir);
  try {
    // Everything is read from the staged copy: the manifest written below describes exactly the
    // detector it was calibrated against, whatever happens to the live folder meanwhile.
    const dir = target.stage;
    const manifestPath = path.join(target.dir, MANIFEST_FILE);
    const { manifest, detector: fp32 } = await readExportedModel(dir, target.dir);
    const t = manifest.training as { data?: string; abnormalClass?: string | null; maxImages?: number | null; seed?: number; validationFraction?: number };
    const spec = opts.data ?? t.data;
    if (typeof spec !== 'string' || typeof t.seed !== 'number' || typeof t.validationFraction !== 'number') {
      throw new ExportError(`${manifestPath} lacks training.data/seed/validationFraction, so its validation split cannot be rebuilt; pass --data`);
    }
    progress('loading validation images');
    const data = await loadDataset(spec, {
      isize: manifest.model.isize, nc: manifest.model.nc, abnormalClass: t.abnormalClass ?? undefined,
      maxImages: t.maxImages ?? undefined, seed: t.seed, validationFraction: t.validationFraction,
      tiling: manifest.tiling,
    });
    if (manifest.split && manifest.split.validationNormal !== data.split.validationNormal) {
      throw new ExportError(
        `the data gives ${data.split.validationNormal} validation images but the model was calibrated on ${manifest.split.validationNormal}; point --data at the data it was trained on`,
      );
    }
    const rule: ThresholdRule = opts.thresholdQuantile !== undefined ? { quantile: opts.thresholdQuantile } : thresholdRuleOf(manifest.threshold);
    const built = await buildVariants(manifest.model, fp32, data.validation, precisions, rule, nodeOrt, 16, progress);
    const { files, variants } = await writeVariants(dir, built);
    const next: Manifest = { ...manifest, files: { ...manifest.files, ...files }, variants: { ...manifest.variants, ...variants } };
    await writeFileAtomic(path.join(dir, MANIFEST_FILE), `${JSON.stringify(next, null, 2)}\n`);
    await target.commit();
    progress('done');
    return next;
  } finally {
    await target.abandon(); // no-op after commit
  }
}
