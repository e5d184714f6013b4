// `ganomaly export` as a library call: run folder → validated ONNX graphs, parity-checked against
// the tfjs model, calibrated on validation normals, described by manifest.json.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendRequest } from '../backend/index.js';
import { writeFileAtomic } from '../io/write-atomic.js';
import { loadDataset } from '../data/index.js';
import { PRECISIONS, type Manifest, type Precision, type SplitSizes } from '../types.js';
import { packageVersion } from '../version.js';
import { calibrate } from './calibrate.js';
import { ExportError } from './errors.js';
import { sha256Hex } from './hash.js';
import { manifestCoreSha256 } from '@ganomaly-edge/runtime/node';
import { buildManifest, manifestCore } from './manifest.js';
import { buildGraphs, graphOptions } from './graphs.js';
import { buildDiscriminator, DEFAULT_OPSET, GRAPH_IO, MAX_OPSET, MIN_OPSET } from './onnx/index.js';
import { nodeOrt, ortVersion } from './ortNode.js';
import { openExportTarget } from './output.js';
import { checkParity, PARITY_TOLERANCE } from './parity.js';
import { readRunFolder } from './runFolder.js';
import { buildVariants, writeVariants } from './variants.js';

export interface ExportOptions {
  /** Output folder (created). */
  out: string;
  /** Model name in the manifest (default: the output folder's name). */
  name?: string;
  opset?: number;
  /** Threshold = this quantile of validation-normal scores (default 0.99)… */
  thresholdQuantile?: number;
  /** …or this absolute value. */
  threshold?: number;
  /** Validation images used for the tfjs ↔ ONNX parity check (default 16). */
  parityImages?: number;
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
  /** Replace a non-empty output folder (the whole folder: no file of the old one is kept). Default false. */
  force?: boolean;
  onProgress?: (stage: string, done?: number, total?: number) => void;
}

export interface ExportResult {
  outDir: string;
  manifest: Manifest;
}

export async function exportRun(runDir: string, opts: ExportOptions): Promise<ExportResult> {
  // Checked (and locked) first, so a refused or concurrent export fails before any work.
  const target = await openExportTarget(opts.out, opts.force ?? false);
  try {
    const result = await exportInto(runDir, opts, target.stage, target.dir);
    await target.commit();
    return result;
  } finally {
    await target.abandon(); // no-op after commit
  }
}

/** The export itself: every file goes into `stageDir`, which becomes `outDir` afterwards. */
async function exportInto(runDir: string, opts: ExportOptions, stageDir: string, outDir: string): Promise<ExportResult> {
  const opset = opts.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new ExportError(`opset must be an integer from ${MIN_OPSET} to ${MAX_OPSET}; got ${opset}`);
  }
  const progress = opts.onProgress ?? (() => {});
  progress('reading run folder');
  const run = await readRunFolder(runDir);
  const { config } = run;
  const cfg = config.model;
  if (run.epoch === 0 && run.step === 0) throw new ExportError(`${run.dir} has a checkpoint from before any training step`);

  progress('loading validation images');
  const data = await loadDataset(opts.data ?? config.data, {
    isize: cfg.isize, nc: cfg.nc, abnormalClass: config.abnormalClass, maxImages: config.maxImages,
    seed: config.seed, validationFraction: config.validationFraction, skipUndecodable: config.skipBadImages,
  });
  const recorded = JSON.parse(await fs.readFile(path.join(run.dir, 'split.json'), 'utf8').catch(() => 'null')) as SplitSizes | null;
  if (recorded && recorded.validationNormal !== data.split.validationNormal) {
    throw new ExportError(
      `the data no longer gives the run's split (validation ${data.split.validationNormal} images, the run recorded ${recorded.validationNormal}); point --data at the data the run was trained on`,
    );
  }
  const val = data.validation;

  const name = opts.name ?? path.basename(outDir);
  const core = manifestCore(name, config, opset);
  const coreHash = manifestCoreSha256(core);
  const version = packageVersion();
  progress('building graphs');
  const stamp = { core, coreHash, producerVersion: version };
  const graphs = buildGraphs(cfg, run.weights, stamp);

  progress('parity check');
  // Sixteen images need no GPU; wasm avoids probing GPU drivers on every export.
  const backend = await selectBackend(opts.backend ?? 'wasm');
  const per = cfg.isize * cfg.isize * cfg.nc;
  const nParity = Math.min(opts.parityImages ?? 16, val.count);
  // D.onnx (when asked for) is built here so that it is parity-checked like every other graph.
  const dGraph = opts.discriminator ? buildDiscriminator(cfg, run.weights, graphOptions(cfg, stamp, 'discriminator D: x -> prob, features')) : undefined;
  const parity = await checkParity(cfg, run.weights, { ...graphs, ...(dGraph ? { D: dGraph } : {}) }, val.images.subarray(0, nParity * per), nParity, nodeOrt, opts.parityTolerance ?? PARITY_TOLERANCE);

  progress('calibrating', 0, val.count);
  const rule = { quantile: opts.thresholdQuantile, value: opts.threshold };
  const cal = await calibrate(cfg, graphs.detector, val.images, val.count, rule, nodeOrt, 64, (d, t) => progress('calibrating', d, t));
  const built = await buildVariants(cfg, graphs.detector, val, opts.precisions ?? PRECISIONS, rule, nodeOrt, nParity, (s) => progress(s));

  const files: Manifest['files'] = {};
  const write = async (file: string, bytes: Uint8Array, io: { inputs: readonly string[]; outputs: readonly string[] }) => {
    await writeFileAtomic(path.join(stageDir, file), bytes);
    files[file] = { sha256: sha256Hex(bytes), bytes: bytes.length, inputs: [...io.inputs], outputs: [...io.outputs] };
  };
  await write('detector.onnx', graphs.detector, GRAPH_IO.detector);
  await write('GE.onnx', graphs.GE, GRAPH_IO.GE);
  await write('GD.onnx', graphs.GD, GRAPH_IO.GD);
  await write('E.onnx', graphs.E, GRAPH_IO.E);
  const reduced = await writeVariants(stageDir, built);
  Object.assign(files, reduced.files);
  if (dGraph) await write('D.onnx', dGraph, GRAPH_IO.discriminator);

  const manifest = buildManifest({
    core, config,
    trainedEpochs: run.epoch, trainedStepsInEpoch: run.step,
    split: data.split,
    calibration: cal.stats,
    threshold: cal.threshold,
    files,
    tools: {
      'ganomaly-edge': version,
      '@tensorflow/tfjs': tf.version.tfjs,
      'onnxruntime-node': await ortVersion(),
      'tfjs-backend': backend.name,
      node: process.versions.node,
    },
    parity: { images: parity.images, tolerance: parity.tolerance, ...parity.maxAbsDiff },
    variants: reduced.variants,
  });
  await writeFileAtomic(path.join(stageDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  progress('done');
  return { outDir, manifest };
}
