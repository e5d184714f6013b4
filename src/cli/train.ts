// `ganomaly train`: parses options into a TrainConfig and prints progress; the work is train().
import { DEFAULT_TRAIN_CONFIG, validateTrainConfig, type ResumeOverrides, type TrainConfig } from '../config/train-config.js';
import { readRunConfig, train } from '../train/trainer.js';
import type { BackendRequest } from '../backend/index.js';
import { parseCommandArgs, progressLine, rangedOption, UsageError } from '../cli-args.js';
import { TRAIN_RANGES } from '../option-ranges.js';
import { tilingProblems, type Tiling } from '@ganomaly-edge/runtime';

const HELP = `Usage: ganomaly train --data <spec> [--abnormal-class K] --out <run dir> [options]

Trains GANomaly on normal images only and writes a run folder (config, split sizes,
per-epoch history, checkpoints) that 'ganomaly export' turns into ONNX.

Data:
  --data <spec>            fashion-mnist | mnist | idx:<dir> | folder:<dir>
                           (folder:<dir> needs <dir>/normal and <dir>/abnormal)
  --abnormal-class <K>     class held out as the anomaly (IDX data: index 0-9 or name)
  --max-images <N>         use at most N images in total (quick runs)
  --validation-fraction <f> share of training normals held out for calibration (default 0.1)
Patch model (frames cut into tiles; the split stays by frame):
  --tile <px>              tile side = the model's input size (sets --isize); a multiple of 16
  --tile-stride <px>       pixels between tile starts, 1 to --tile (default: --tile, no overlap)
  --tile-frame <WxH|any>   resize every frame to WxH before cutting (1-8192 each), or cut it
                           at its own size (default any)
Model:
  --isize <px>             input size, a multiple of 16 (default 32)
  --channels <1|3>         input channels (default 1)
  --nz <n>                 latent size (default 100)
  --ngf <n>                generator width (default 64)
  --ndf <n>                discriminator width (default: same as --ngf)
  --score <l2|l1>          anomaly score: l2 = mean (z-ẑ)² (reference), l1 = mean |z-ẑ| (paper)
Optimisation:
  --epochs <n>             (default 15)
  --batch-size <n>         (default 64)
  --lr <x>                 Adam learning rate (default 0.0002)
  --beta1 <x> --beta2 <x>  Adam betas (default 0.5, 0.999)
  --w-adv <x> --w-con <x> --w-enc <x>   loss weights (default 1, 50, 1)
  --seed <n>               fixes split, init and batch order (default 0)
Run:
  --out <dir>              run folder (required)
  --resume                 continue the run in --out from its last checkpoint, with the run's
                           own settings (config.json); options equal to the run's are accepted,
                           and only --epochs, --backend, --lr, --beta1, --beta2 and --w-* may
                           change
  --skip-bad-images        folder data: leave out images that fail to decode (listed) instead
                           of stopping
  --backend <name>         auto | tensorflow | webgpu | wasm | cpu (default auto:
                           tfjs-node-gpu, tfjs-node, webgpu with a hardware adapter if a
                           probe (3 steps of this run's network on each) finds it faster
                           than wasm, else wasm)
  -h, --help               show this help

Ctrl-C stops after the current step and writes a checkpoint; --resume continues it.`;

const BACKENDS = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'];

export async function run(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseCommandArgs(argv, {
    data: { type: 'string' }, 'abnormal-class': { type: 'string' }, 'max-images': { type: 'string' },
    'validation-fraction': { type: 'string' }, isize: { type: 'string' }, channels: { type: 'string' },
    nz: { type: 'string' }, ngf: { type: 'string' }, ndf: { type: 'string' }, score: { type: 'string' },
    epochs: { type: 'string' }, 'batch-size': { type: 'string' }, lr: { type: 'string' }, beta1: { type: 'string' },
    beta2: { type: 'string' }, 'w-adv': { type: 'string' }, 'w-con': { type: 'string' }, 'w-enc': { type: 'string' },
    seed: { type: 'string' }, out: { type: 'string' }, resume: { type: 'boolean' }, backend: { type: 'string' },
    'skip-bad-images': { type: 'boolean' }, tile: { type: 'string' }, 'tile-stride': { type: 'string' }, 'tile-frame': { type: 'string' },
  }, false);
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  if (!v.out) throw new UsageError('--out <run dir> is required');
  if (!v.data && !v.resume) throw new UsageError('--data <spec> is required (fashion-mnist, mnist, idx:<dir>, folder:<dir>)');
  const backend = (v.backend ?? 'auto') as BackendRequest;
  if (!BACKENDS.includes(backend)) throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}; got '${backend}'`);
  const score = v.score ?? 'l2';
  if (score !== 'l1' && score !== 'l2') throw new UsageError(`--score must be l2 or l1; got '${score}'`);
  // Every number against its range in the table (option-ranges.ts), before anything is read or written.
  const R = TRAIN_RANGES;
  const tiling = tilingOption(v.tile, v['tile-stride'], v['tile-frame']);
  if (tiling && v.isize !== undefined && rangedOption(v.isize, R.isize) !== tiling.tile) throw new UsageError(`--tile ${tiling.tile} must equal --isize (tiles are the model's input); drop --isize`);
  const d = DEFAULT_TRAIN_CONFIG;
  const ngf = rangedOption(v.ngf, R.ngf) ?? d.model.ngf;
  const config: TrainConfig = {
    ...d,
    data: v.data ?? '',
    abnormalClass: v['abnormal-class'],
    out: v.out,
    epochs: rangedOption(v.epochs, R.epochs) ?? d.epochs,
    batchSize: rangedOption(v['batch-size'], R.batchSize) ?? d.batchSize,
    model: {
      isize: tiling?.tile ?? rangedOption(v.isize, R.isize) ?? d.model.isize,
      nc: (rangedOption(v.channels, R.channels) ?? d.model.nc) as 1 | 3,
      ngf,
      ndf: rangedOption(v.ndf, R.ndf) ?? ngf,
      nz: rangedOption(v.nz, R.nz) ?? d.model.nz,
      scoreKind: score,
    },
    lr: rangedOption(v.lr, R.lr) ?? d.lr,
    beta1: rangedOption(v.beta1, R.beta1) ?? d.beta1,
    beta2: rangedOption(v.beta2, R.beta2) ?? d.beta2,
    weights: {
      adv: rangedOption(v['w-adv'], R.wAdv) ?? d.weights.adv,
      con: rangedOption(v['w-con'], R.wCon) ?? d.weights.con,
      enc: rangedOption(v['w-enc'], R.wEnc) ?? d.weights.enc,
    },
    seed: rangedOption(v.seed, R.seed) ?? d.seed,
    backend,
    maxImages: rangedOption(v['max-images'], R.maxImages),
    validationFraction: rangedOption(v['validation-fraction'], R.validationFraction) ?? d.validationFraction,
    ...(v['skip-bad-images'] ? { skipBadImages: true } : {}),
    ...(tiling ? { tiling } : {}),
  };
  // The whole model's size too (widths × input size), before a folder or config.json exists.
  if (!v.resume) validateTrainConfig(config);

  if (v.resume) await checkResumeFlags(v as Record<string, unknown>, config);

  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\nstopping after this step (Ctrl-C again to quit at once)…\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  let bar = progressLine('epoch 1');
  try {
    // On resume only what was given explicitly changes; the rest is the run's own config.
    const overrides: ResumeOverrides | undefined = v.resume
      ? {
          epochs: v.epochs === undefined ? undefined : config.epochs,
          backend: v.backend === undefined ? undefined : config.backend,
          lr: v.lr === undefined ? undefined : config.lr,
          beta1: v.beta1 === undefined ? undefined : config.beta1,
          beta2: v.beta2 === undefined ? undefined : config.beta2,
          weights: {
            ...(v['w-adv'] === undefined ? {} : { adv: config.weights.adv }),
            ...(v['w-con'] === undefined ? {} : { con: config.weights.con }),
            ...(v['w-enc'] === undefined ? {} : { enc: config.weights.enc }),
          },
        }
      : undefined;
    let effective = config;
    const result = await train(config, {
      resume: v.resume,
      resumeOverrides: overrides,
      signal: controller.signal,
      onProgress(e) {
        if (e.kind === 'start') {
          console.log(`backend: ${e.backend} (${e.backendReason}); ${e.fusedKernels ? 'fused training kernels (BatchNorm + activation, Adam)' : 'unfused tfjs ops (no fused kernels for this backend, or GANOMALY_FUSED=0)'}`);
          for (const s of e.skipped) console.log(`  not ${s.name}: ${s.why}`);
          for (const w of e.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
          const s = e.split;
          const unit = config.tiling ? ' frames (cut into tiles)' : '';
          console.log(`split (seed ${s.seed}, abnormal '${s.abnormalClass}'): train ${s.trainNormal}, validation ${s.validationNormal}, test ${s.testNormal} normal + ${s.testAbnormal} abnormal${unit}; ${e.stepsPerEpoch} steps/epoch`);
          if (e.restored) {
            const c = e.restored.config;
            effective = c;
            const m = c.model;
            console.log(
              `restored the run's config: data ${c.data}${c.abnormalClass !== undefined ? ` (abnormal ${c.abnormalClass})` : ''}, epochs ${c.epochs}, backend ${c.backend}, batch ${c.batchSize}, ` +
                `lr ${c.lr}, betas ${c.beta1}/${c.beta2}, weights ${c.weights.adv}/${c.weights.con}/${c.weights.enc}, isize ${m.isize}, nc ${m.nc}, nz ${m.nz}, ngf ${m.ngf}, ndf ${m.ndf}, score ${m.scoreKind}, seed ${c.seed}` +
                `${c.maxImages !== undefined ? `, max images ${c.maxImages}` : ''}; ${e.restored.overridden.length ? `changed: ${e.restored.overridden.join(', ')}` : 'nothing changed'}`,
            );
          }
          if (e.resumedFrom) console.log(`resuming at epoch ${e.resumedFrom.epoch + 1}, step ${e.resumedFrom.step}`);
          bar = progressLine(`epoch ${(e.resumedFrom?.epoch ?? 0) + 1}`);
        } else if (e.kind === 'step') {
          const l = e.losses;
          bar.update(e.step, e.steps, `${e.imagesPerSec.toFixed(1)} img/s  G ${l.errG.toFixed(3)} (adv ${l.errGAdv.toFixed(3)} con ${l.errGCon.toFixed(3)} enc ${l.errGEnc.toFixed(4)})  D ${l.errD.toFixed(3)}`);
        } else if (e.kind === 'validate') {
          bar.end();
        } else if (e.kind === 'epoch') {
          const s = e.summary;
          const val = s.validation;
          console.log(
            `epoch ${s.epoch + 1}: ${s.seconds.toFixed(1)}s, ${s.imagesPerSec.toFixed(1)} img/s, G ${s.losses.errG.toFixed(4)} D ${s.losses.errD.toFixed(4)}` +
              `${s.dReinits ? ` (D re-initialised ${s.dReinits}x)` : ''} | validation score mean ${val.mean.toExponential(3)} p99 ${val.p99.toExponential(3)} recon L1 ${val.reconL1.toFixed(4)}`,
          );
          bar = progressLine(`epoch ${s.epoch + 2}`);
        }
      },
    });
    bar.end();
    console.log(result.stopped
      ? `stopped; checkpoint written. Continue with: ganomaly train --out ${config.out} --resume (epochs ${effective.epochs})`
      : `done: ${result.runDir} (export with: ganomaly export ${config.out} --out models/<name>)`);
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** Flags a resumed run takes from its config.json, with where each one lives there. */
const RUN_FIXED: Record<string, (c: TrainConfig) => unknown> = {
  data: (c) => c.data,
  'abnormal-class': (c) => c.abnormalClass,
  'max-images': (c) => c.maxImages,
  'validation-fraction': (c) => c.validationFraction,
  isize: (c) => c.model.isize,
  channels: (c) => c.model.nc,
  nz: (c) => c.model.nz,
  ngf: (c) => c.model.ngf,
  ndf: (c) => c.model.ndf,
  score: (c) => c.model.scoreKind,
  'batch-size': (c) => c.batchSize,
  seed: (c) => c.seed,
  'skip-bad-images': (c) => c.skipBadImages ?? false,
  tile: (c) => c.tiling?.tile,
  'tile-stride': (c) => c.tiling?.stride,
  'tile-frame': (c) => c.tiling?.frame,
};

/** --tile, --tile-stride, --tile-frame → a tiling block (undefined without --tile). */
function tilingOption(tile: string | undefined, stride: string | undefined, frame: string | undefined): Tiling | undefined {
  if (tile === undefined) {
    rangedOption(stride, TRAIN_RANGES.tileStride); // a bad number is named as such first
    if (stride !== undefined || frame !== undefined) throw new UsageError('--tile-stride and --tile-frame need --tile <px>');
    return undefined;
  }
  const t = rangedOption(tile, TRAIN_RANGES.tile)!;
  const s = rangedOption(stride, TRAIN_RANGES.tileStride) ?? t;
  if (s > t) throw new UsageError(`--tile-stride must be from 1 to --tile (${t}); got ${s}`);
  let f: Tiling['frame'] = 'any';
  if (frame !== undefined && frame !== 'any') {
    const m = /^(\d{1,5})x(\d{1,5})$/.exec(frame);
    if (!m) throw new UsageError(`--tile-frame must be WxH (e.g. 128x128) or any; got '${frame}'`);
    f = { width: Number(m[1]), height: Number(m[2]) };
  }
  const tiling: Tiling = { tile: t, stride: s, frame: f, reduce: 'max' };
  const problems = tilingProblems(tiling, 'tiling');
  if (problems.length) throw new UsageError(problems[0]!.replace(/^tiling\./, '--tile-'));
  return tiling;
}

/**
 * --resume with the run's own values (the original command line repeated with --resume added) is
 * accepted; a flag that would change what a run cannot change mid-way is refused, naming it.
 */
async function checkResumeFlags(v: Record<string, unknown>, asked: TrainConfig): Promise<void> {
  const given = Object.keys(RUN_FIXED).filter((k) => v[k] !== undefined);
  if (given.length === 0) return;
  const saved = await readRunConfig(asked.out);
  const changed = given.filter((k) => JSON.stringify(RUN_FIXED[k]!(asked)) !== JSON.stringify(RUN_FIXED[k]!(saved)));
  if (changed.length) {
    const list = changed.map((k) => `--${k} (the run has ${JSON.stringify(RUN_FIXED[k]!(saved))})`).join(', ');
    throw new UsageError(`--resume continues the run with its own settings from ${asked.out}/config.json; it cannot change ${list}: drop ${changed.length === 1 ? 'it' : 'them'}, or start a new run in another --out`);
  }
}
