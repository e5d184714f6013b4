// `ganomaly eval`: test-split metrics of an exported model, scored through the runtime.
import path from 'node:path';
import { evaluateModel, formatPrecisionTable, formatSummary, type EvalReport, type EvalStage } from '../eval/index.js';
import { executionProvidersOption, parseCommandArgs, precisionListOption, progressLine, rangedOption, UsageError } from '../cli-args.js';
import { EVAL_RANGES } from '../option-ranges.js';

const HELP = `Usage: ganomaly eval --model <model dir> [options]

Rebuilds the seeded test split the model was trained with (seed, maxImages and validation
fraction come from manifest.json), scores it through the Node runtime, and reports ROC AUC,
average precision, and precision/recall/F1 at the manifest threshold (anomaly = score > threshold),
next to a baseline: the pixel reconstruction error mean |x - x_hat| from the same runs.
The validation normals are scored too, to check them against the manifest's calibration.

Options:
  --model <dir>               exported model folder (required)
  --data <spec>               fashion-mnist | mnist | idx:<dir> | folder:<dir> (default: the training data)
  --abnormal-class <K>        abnormal class (default: the training one)
  --seed <n>                  split seed (default: the training seed)
  --max-images <N>            image cap (default: the training cap)
  --validation-fraction <f>   (default: the training value)
  --threshold <x>             raw-score threshold (default: the manifest's)
  --batch-size <n>            images per runtime call (default 64)
  --execution-providers <list>
                              ONNX Runtime execution providers, comma-separated (default cpu)
  --provider <list>           deprecated: the old name of --execution-providers
  --precision <list>          detectors to evaluate, any of fp32,fp16,int8 (default fp32); with
                              more than one, a table compares them on the same split
  --out <dir>                 write report.json, roc.png, hist.png, hist-baseline.png, scores.csv
                              (one subfolder per precision when several are given)
  --json                      print report.json to stdout instead of the summary
  -h, --help                  show this help

Changing --seed, --max-images, --validation-fraction or --abnormal-class gives a test set that may
share images with training; the report says so.`;

export async function run(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseCommandArgs(argv, {
    model: { type: 'string' }, data: { type: 'string' }, 'abnormal-class': { type: 'string' }, seed: { type: 'string' },
    'max-images': { type: 'string' }, 'validation-fraction': { type: 'string' }, threshold: { type: 'string' },
    'batch-size': { type: 'string' }, 'execution-providers': { type: 'string' }, provider: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' },
    precision: { type: 'string' },
  }, false);
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  if (!v.model) throw new UsageError('--model <model dir> is required');
  const executionProviders = executionProvidersOption(v['execution-providers'], v.provider, 'provider');
  const precisions = precisionListOption(v.precision) ?? ['fp32'];
  // Every number against its range in the table (option-ranges.ts), before the model loads.
  const R = EVAL_RANGES;
  const numbers = {
    seed: rangedOption(v.seed, R.seed),
    maxImages: rangedOption(v['max-images'], R.maxImages),
    validationFraction: rangedOption(v['validation-fraction'], R.validationFraction),
    threshold: rangedOption(v.threshold, R.threshold),
    batchSize: rangedOption(v['batch-size'], R.batchSize),
  };
  const reports: EvalReport[] = [];
  for (const precision of precisions) {
    const out = v.out && precisions.length > 1 ? path.join(v.out, precision) : v.out;
    let bar: ReturnType<typeof progressLine> | undefined;
    let stage: EvalStage | undefined;
    const { report } = await evaluateModel({
      model: v.model,
      data: v.data,
      abnormalClass: v['abnormal-class'],
      ...numbers,
      executionProviders,
      precision,
      out,
      onProgress({ stage: s, done, total }) {
        if (s !== stage) {
          bar?.end();
          bar = progressLine(`${precisions.length > 1 ? `${precision} ` : ''}${s}`.padEnd(18));
          stage = s;
        }
        bar!.update(done ?? 0, total ?? 0);
      },
    });
    bar?.end();
    reports.push(report);
    if (!v.json) {
      if (precisions.length > 1) console.log(`\n== ${precision} (${report.model.file}) ==`);
      console.log(formatSummary(report));
      if (out) console.log(`\nwrote ${out}: report.json, roc.png, hist.png, hist-baseline.png, scores.csv`);
    }
  }
  if (v.json) console.log(JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2));
  else if (reports.length > 1) console.log(`\n${formatPrecisionTable(reports)}`);
  return 0;
}
