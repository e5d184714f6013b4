// `ganomaly quantize`: adds FP16/INT8 detectors to a model folder that already exists (a prebuilt
// model, or one exported before variants existed), calibrated on its own validation normals.
import { quantizeModel } from '../export/index.js';
import { parseCommandArgs, precisionListOption, UsageError } from '../cli-args.js';
import { printVariants } from './export.js';

const HELP = `Usage: ganomaly quantize --model <model dir> [options]

Writes detector.fp16.onnx and/or detector.int8.onnx next to detector.onnx and lists them in
manifest.json (sha256, size, their own calibration and threshold, parity against float32).
The validation normals are rebuilt from the manifest's training data, seed and split, so the
variants are calibrated exactly as \`ganomaly export\` would calibrate them.

Options:
  --model <dir>          exported model folder (required)
  --precision <list>     fp16, int8 or both (default fp16,int8)
  --data <spec>          data spec, if the training data moved (must give the same split)
  -h, --help             show this help`;

export async function run(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseCommandArgs(argv, { model: { type: 'string', short: 'm' }, precision: { type: 'string' }, data: { type: 'string' } }, false);
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  if (!v.model) throw new UsageError('--model <model dir> is required');
  const precisions = (precisionListOption(v.precision) ?? ['fp16', 'int8']).filter((p) => p !== 'fp32');
  if (precisions.length === 0) throw new UsageError('--precision: fp32 is detector.onnx itself; name fp16 and/or int8');
  const manifest = await quantizeModel(v.model, {
    precisions, data: v.data,
    onProgress({ stage }) {
      if (stage !== 'done') process.stderr.write(`${stage}…\n`);
    },
  });
  console.log(`updated ${v.model}/manifest.json`);
  printVariants(manifest);
  return 0;
}
