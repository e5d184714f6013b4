// `ganomaly triton`: model folder → Triton Inference Server model repository entry.
import { writeTritonRepository } from '../export/triton.js';
import { parseCommandArgs, printable, rangedOption, UsageError } from '../cli-args.js';
import { TRITON_RANGES } from '../option-ranges.js';

const HELP = `Usage: ganomaly triton --model <model dir> --out <repository dir> [options]

Writes <out>/<name>/config.pbtxt (platform onnxruntime_onnx, dynamic batching, tensor names and
shapes from the manifest), <out>/<name>/1/model.onnx (detector.onnx) and <out>/<name>/manifest.json
(preprocessing, calibration and threshold for clients). Start Triton with
--model-repository=<out>. See docs/serve.md.

Options:
  -m, --model <dir>             exported model folder (manifest.json + detector.onnx), required
  --out <dir>                   model repository folder (created), required
  --name <name>                 Triton model name (default: the manifest's name)
  --max-batch-size <n>          largest batch Triton may form (default 32)
  --max-queue-delay-us <us>     dynamic batcher wait (default 2000)
  --instances <n>               model instances (default: Triton's)
  --kind <cpu|gpu>              where instances run (with --instances; default gpu)
  -h, --help                    show this help`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseCommandArgs(
    argv,
    {
      model: { type: 'string', short: 'm' }, out: { type: 'string' }, name: { type: 'string' },
      'max-batch-size': { type: 'string' }, 'max-queue-delay-us': { type: 'string' },
      instances: { type: 'string' }, kind: { type: 'string' },
    },
    false,
  );
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (!v.model) throw new UsageError('--model <model dir> is required');
  if (!v.out) throw new UsageError('--out <repository dir> is required');
  if (v.kind && !['cpu', 'gpu'].includes(v.kind)) throw new UsageError(`--kind must be cpu or gpu; got '${v.kind}'`);
  if (v.kind && !v.instances) throw new UsageError('--kind needs --instances <n>');
  const R = TRITON_RANGES;
  const count = rangedOption(v.instances, R.instances);
  const maxBatchSize = rangedOption(v['max-batch-size'], R.maxBatchSize);
  const maxQueueDelayMicroseconds = rangedOption(v['max-queue-delay-us'], R.maxQueueDelayUs);
  const { modelDir, config } = await writeTritonRepository(v.model, v.out, {
    name: v.name,
    maxBatchSize,
    maxQueueDelayMicroseconds,
    instanceGroup: count ? { count, kind: v.kind === 'cpu' ? 'KIND_CPU' : 'KIND_GPU' } : undefined,
  });
  // Names come from the manifest and the command line: escaped, so none can forge lines or colours.
  console.log(`wrote ${printable(modelDir)}: config.pbtxt, 1/model.onnx, manifest.json`);
  console.log(`model '${printable(config.name)}', max_batch_size ${config.maxBatchSize}, inputs ${config.inputs.map((t) => printable(t.name)).join(', ')}, outputs ${config.outputs.map((t) => printable(t.name)).join(', ')}`);
  return 0;
}
