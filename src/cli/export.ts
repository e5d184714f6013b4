// `ganomaly export`: run folder → ONNX graphs + manifest.json.
import { DETECTOR_FILE } from '@ganomaly-edge/runtime/node';
import { exportRun } from '../export/index.js';
import { BACKEND_REQUESTS, type BackendRequest } from '../backend/index.js';
import { parseCommandArgs, precisionListOption, progressLine, rangedOption, UsageError } from '../cli-args.js';
import { EXPORT_RANGES } from '../option-ranges.js';

const HELP = `Usage: ganomaly export <run dir> --out <model dir> [options]

Writes GE.onnx (x→z), GD.onnx (z→x_hat), E.onnx (x_hat→z_hat), detector.onnx (x→score, z,
z_hat, x_hat, anomaly_map), its FP16/INT8 variants (detector.fp16.onnx, detector.int8.onnx) and
manifest.json. Every export checks the graphs against the trained
tfjs model (onnxruntime-node, max abs difference ≤ 1e-4) and calibrates on the validation normals.
Works from an interrupted run (uses its last checkpoint).

Options:
  --out <dir>                 output model folder (required)
  --name <name>               model name in the manifest (default: the folder name)
  --opset <n>                 ONNX opset, 13-21 (default 17)
  --threshold-quantile <q>    threshold = quantile q of validation-normal scores (default 0.99)
  --threshold <x>             absolute threshold instead of a quantile
  --parity-images <n>         validation images used for the parity check (default 16)
  --precision <list>          detector precisions, any of fp32,fp16,int8 (default all three;
                              fp32 is always written). Each variant is calibrated on its own
  --discriminator             also write D.onnx
  --data <spec>               data spec, if the run's data moved (must give the same split)
  --backend <name>            tfjs backend for the parity check (default wasm)
  --force                     replace a non-empty --out folder that holds a model (all of it:
                              nothing of the old model is kept); any other folder is refused.
                              --out may not be, contain or lie inside the run folder.
                              Files are written to a temporary sibling folder
                              and swapped in at the end; a second export into the same folder
                              at the same time fails
  -h, --help                  show this help`;

export async function run(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseCommandArgs(argv, {
    out: { type: 'string' }, name: { type: 'string' }, opset: { type: 'string' },
    'threshold-quantile': { type: 'string' }, threshold: { type: 'string' }, 'parity-images': { type: 'string' },
    discriminator: { type: 'boolean' }, data: { type: 'string' }, backend: { type: 'string' }, precision: { type: 'string' }, force: { type: 'boolean' },
  });
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('expected exactly one run folder (ganomaly export <run dir> --out <model dir>)');
  if (!v.out) throw new UsageError('--out <model dir> is required');
  const R = EXPORT_RANGES;
  const q = rangedOption(v['threshold-quantile'], R.thresholdQuantile);
  const threshold = rangedOption(v.threshold, R.threshold);
  const opset = rangedOption(v.opset, R.opset);
  const parityImages = rangedOption(v['parity-images'], R.parityImages);
  if (q !== undefined && threshold !== undefined) throw new UsageError('give --threshold or --threshold-quantile, not both');
  if (v.backend !== undefined && !BACKEND_REQUESTS.includes(v.backend as BackendRequest)) {
    throw new UsageError(`--backend must be one of ${BACKEND_REQUESTS.join(', ')}; got '${v.backend}'`);
  }
  const bar = progressLine('calibrating');
  const { outDir, manifest } = await exportRun(positionals[0]!, {
    out: v.out, name: v.name, opset, thresholdQuantile: q, threshold,
    parityImages, discriminator: v.discriminator, data: v.data,
    backend: v.backend as BackendRequest | undefined,
    precisions: precisionListOption(v.precision),
    force: v.force,
    onProgress({ stage, done, total }) {
      if (stage === 'calibrating' && total) bar.update(done ?? 0, total);
      else if (stage !== 'done') process.stderr.write(`${stage}…\n`);
      else bar.end();
    },
  });
  bar.end();
  const p = manifest.parity!;
  const worst = Math.max(...Object.entries(p).filter(([k]) => k.includes('.')).map(([, x]) => x));
  console.log(`wrote ${outDir}: ${Object.keys(manifest.files).join(', ')}, manifest.json`);
  console.log(`parity vs tfjs on ${p.images} images: max abs diff ${worst.toExponential(2)} (tolerance ${p.tolerance})`);
  const c = manifest.calibration;
  console.log(`calibration on ${c.count} validation normals: min ${c.min.toExponential(3)} p50 ${c.p50.toExponential(3)} p99 ${c.p99.toExponential(3)} max ${c.max.toExponential(3)}`);
  console.log(`threshold ${manifest.threshold.value.toExponential(4)} (${manifest.threshold.rule})`);
  printVariants(manifest);
  return 0;
}

/** One line per reduced-precision variant: size against float32, its threshold, its parity. */
export function printVariants(manifest: import('../types.js').Manifest): void {
  const fp32 = manifest.files[DETECTOR_FILE]!.bytes;
  for (const [p, v] of Object.entries(manifest.variants ?? {})) {
    const bytes = manifest.files[v.file]!.bytes;
    console.log(
      `${p}: ${v.file} ${(bytes / 1e6).toFixed(2)} MB (${((100 * bytes) / fp32).toFixed(1)} % of fp32), threshold ${v.threshold.value.toExponential(4)}, ` +
        `max |score − fp32| ${v.parityVsFp32.score?.toExponential(2)} on ${v.parityVsFp32.images} images`,
    );
  }
}
