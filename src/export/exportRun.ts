// `ganomaly export` as a library call: run folder → the model folder (model-folder.ts: validated
// ONNX graphs, parity-checked against the tfjs model, calibrated on validation normals, described by
// manifest.json), staged and swapped into place on disk.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendRequest } from '../backend/index.js';
import { isNotFound, MAX_RUN_JSON_BYTES, readTextFile } from '../io/read.js';
import { writeFileAtomic } from '../io/write-atomic.js';
import { loadDataset } from '../data/index.js';
import type { Manifest, Precision, SplitSizes } from '../types.js';
import { VERSION } from '../version.js';
import { ExportError } from './errors.js';
import { sha256Hex } from './hash.js';
import type { StageEvent } from '../progress.js';
import { buildModelFolder, checkModelFolderOptions } from './model-folder.js';
import { nodeOrt, ortVersion } from './ortNode.js';
import { openExportTarget } from './output.js';
import { readRunFolder } from './runFolder.js';

export interface ExportOptions {
  /** Output folder (created). */
  out: string;
  /** Model name in the manifest (default: the output folder's name). */
  name?: string;
  /** ONNX opset, 13-21 (default 17). */
  opset?: number;
  /** Threshold = this quantile of validation-normal scores, in (0, 1] (default 0.99)… */
  thresholdQuantile?: number;
  /** …or this absolute value (finite). */
  threshold?: number;
  /** Validation images used for the tfjs ↔ ONNX parity check, 1-4096 (default 16). */
  parityImages?: number;
  /** Largest allowed |tfjs − ONNX| per output, in (0, 1] (default 1e-4). Ranges: EXPORT_RANGES (option-ranges.ts). */
  parityTolerance?: number;
  /** Also write D.onnx (discriminator probability and features). */
  discriminator?: boolean;
  /** Data spec to use instead of the one in the run's config (when the data moved). */
  data?: string;
  /**
   * Detector precisions to write (default all three): fp32 is always detector.onnx; fp16 and int8
   * add detector.fp16.onnx / detector.int8.onnx, each calibrated on its own.
   */
  precisions?: readonly Precision[];
  /** tfjs backend for the parity check (default wasm). */
  backend?: BackendRequest;
  /**
   * Replace a non-empty output folder that holds a model (its manifest.json names detector.onnx):
   * the whole folder, no file of the old one is kept. Any other non-empty folder is refused. Default false.
   */
  force?: boolean;
  onProgress?: (e: StageEvent) => void;
}

export interface ExportResult {
  outDir: string;
  manifest: Manifest;
}

export async function exportRun(runDir: string, opts: ExportOptions): Promise<ExportResult> {
  const folderOptions = {
    opset: opts.opset, parityImages: opts.parityImages, parityTolerance: opts.parityTolerance,
    precisions: opts.precisions, discriminator: opts.discriminator, onProgress: opts.onProgress,
    threshold: { quantile: opts.thresholdQuantile, value: opts.threshold },
  };
  // Bad options and a refused (or concurrently written) output folder fail before any work.
  checkModelFolderOptions(folderOptions);
  const target = await openExportTarget(opts.out, opts.force ?? false, runDir);
  try {
    const progress = (stage: string) => opts.onProgress?.({ kind: 'stage', stage });
    progress('reading run folder');
    const run = await readRunFolder(runDir);
    const { config } = run;
    const cfg = config.model;
    if (run.epoch === 0 && run.step === 0) throw new ExportError(`${run.dir} has a checkpoint from before any training step`);

    progress('loading validation images');
    const data = await loadDataset(opts.data ?? config.data, {
      isize: cfg.isize, nc: cfg.nc, abnormalClass: config.abnormalClass, maxImages: config.maxImages,
      seed: config.seed, validationFraction: config.validationFraction, skipUndecodable: config.skipBadImages,
      tiling: config.tiling,
    });
    // A run folder copied without split.json is not checked; an unreadable one is an error.
    const recorded = JSON.parse(await readTextFile(path.join(run.dir, 'split.json'), MAX_RUN_JSON_BYTES, 'split.json').catch((e: unknown) => {
      if (isNotFound(e)) return 'null';
      throw new ExportError(`cannot read ${path.join(run.dir, 'split.json')}: ${(e as Error).message}`);
    })) as SplitSizes | null;
    if (recorded && recorded.validationNormal !== data.split.validationNormal) {
      throw new ExportError(
        `the data no longer gives the run's split (validation ${data.split.validationNormal} images, the run recorded ${recorded.validationNormal}); point --data at the data the run was trained on`,
      );
    }
    // The parity check runs the tfjs model: sixteen images need no GPU, and wasm avoids probing
    // GPU drivers on every export.
    const backend = await selectBackend(opts.backend ?? 'wasm');
    const folder = await buildModelFolder({
      name: opts.name ?? path.basename(target.dir),
      config,
      weights: run.weights,
      validation: data.validation,
      trained: { epochs: run.epoch, stepsInEpoch: run.step },
      split: data.split,
      runner: nodeOrt,
      sha256: sha256Hex,
      producerVersion: VERSION,
      tools: {
        '@tensorflow/tfjs': tf.version.tfjs,
        'onnxruntime-node': await ortVersion(),
        'tfjs-backend': backend.name,
        node: process.versions.node,
      },
    }, folderOptions);
    for (const [file, bytes] of Object.entries(folder.files)) await writeFileAtomic(path.join(target.stage, file), bytes);
    await target.commit();
    return { outDir: target.dir, manifest: folder.manifest };
  } finally {
    await target.abandon(); // no-op after commit
  }
}
