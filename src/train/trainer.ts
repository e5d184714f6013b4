// The training loop: data → steps → per-epoch validation summary → atomic checkpoint. Stoppable
// (AbortSignal) between steps and resumable to the exact same losses on the cpu/wasm backends.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { NamedTensor } from '../types.js';
import { validateTrainConfig, type ResumeOverrides, type TrainConfig } from '../config/train-config.js';
import { selectBackend } from '../backend/index.js';
import { timeTrainingStep } from './backend-probe.js';
import { isNotFound, MAX_RUN_JSON_BYTES, readTextFile } from '../io/read.js';
import { writeFileAtomic } from '../io/write-atomic.js';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { loadDataset } from '../data/index.js';
import { checkpointTensors, createRun, initialState, runEpochs, TrainError, type EpochSummary, type TrainEvent, type TrainState } from './loop.js';
import { fusedKernelsActive } from '../backend/fused/ops.js';

export { scoreSet, TrainError, LOSS_NAMES, type EpochSummary, type LossName, type TrainEvent } from './loop.js';
export { DEFAULT_TRAIN_CONFIG, validateTrainConfig, type ResumeOverrides, type TrainConfig, type TrainingSettings } from '../config/train-config.js';

export interface TrainOptions {
  onProgress?: (e: TrainEvent) => void;
  signal?: AbortSignal;
  /** Continue from the run folder's checkpoint (config.json in the folder wins over `config` except `epochs` and `backend`). */
  resume?: boolean;
  /**
   * With resume: restore everything from the run's config.json and change only these (what a user
   * set explicitly). When given, `config` is used only for `out`.
   */
  resumeOverrides?: ResumeOverrides;
}

export interface TrainResult {
  runDir: string;
  history: EpochSummary[];
  /** True when the signal stopped training before the last epoch; a checkpoint was written. */
  stopped: boolean;
  backend: string;
}

export async function readRunConfig(runDir: string): Promise<TrainConfig> {
  try {
    return JSON.parse(await readTextFile(path.join(runDir, 'config.json'), MAX_RUN_JSON_BYTES, 'config.json')) as TrainConfig;
  } catch (e) {
    throw new TrainError(`cannot read ${path.join(runDir, 'config.json')}: ${(e as Error).message}`);
  }
}

export async function train(config: TrainConfig, opts: TrainOptions = {}): Promise<TrainResult> {
  const runDir = path.resolve(config.out);
  let cfg = config;
  let resumeState: TrainState | null = null;
  let resumeTensors: Record<string, NamedTensor> | null = null;
  let history: EpochSummary[] = [];
  let overridden: string[] = [];
  if (opts.resume) {
    if (!(await hasCheckpoint(runDir))) throw new TrainError(`--resume: ${runDir} has no checkpoint to resume from`);
    const saved = await readRunConfig(runDir);
    const o = opts.resumeOverrides;
    if (o) {
      const { weights, ...rest } = o;
      cfg = { ...saved, ...Object.fromEntries(Object.entries(rest).filter(([, x]) => x !== undefined)), weights: { ...saved.weights, ...weights }, out: config.out };
      overridden = [
        ...Object.entries(rest).filter(([k, x]) => x !== undefined && JSON.stringify(x) !== JSON.stringify(saved[k as keyof TrainConfig])).map(([k]) => k),
        ...Object.entries(weights ?? {}).filter(([k, x]) => x !== undefined && x !== saved.weights[k as keyof TrainConfig['weights']]).map(([k]) => `weights.${k}`),
      ];
    } else cfg = { ...saved, epochs: config.epochs, backend: config.backend, out: config.out };
    const ck = await loadCheckpoint<TrainState>(runDir);
    resumeState = ck.state;
    resumeTensors = ck.tensors;
    // A run folder copied without history.json resumes with none; an unreadable one is an error.
    const historyFile = path.join(runDir, 'history.json');
    history = JSON.parse(await readTextFile(historyFile, MAX_RUN_JSON_BYTES, 'history.json').catch((e: unknown) => {
      if (isNotFound(e)) return '[]';
      throw new TrainError(`cannot read ${historyFile}: ${(e as Error).message}`);
    })) as EpochSummary[];
    history = history.filter((h) => h.epoch < resumeState!.epoch);
  } else if (await hasCheckpoint(runDir)) {
    throw new TrainError(`${runDir} already holds a run; pass --resume to continue it or choose another --out`);
  }
  validateTrainConfig(cfg);
  const backend = await selectBackend(cfg.backend, { probe: () => timeTrainingStep(cfg.model, cfg.batchSize) });

  const data = await loadDataset(cfg.data, {
    isize: cfg.model.isize,
    nc: cfg.model.nc,
    abnormalClass: cfg.abnormalClass,
    maxImages: cfg.maxImages,
    seed: cfg.seed,
    validationFraction: cfg.validationFraction,
    skipUndecodable: cfg.skipBadImages,
    tiling: cfg.tiling,
  });
  const { train: trainSet, validation } = data;
  if (trainSet.count < cfg.batchSize) {
    throw new TrainError(`the training split has ${trainSet.count} ${cfg.tiling ? 'tiles' : 'images'}, fewer than one batch of ${cfg.batchSize}; lower --batch-size or raise --max-images`);
  }
  if (validation.count < 1) throw new TrainError('the validation split is empty; raise --max-images or the validation fraction');
  const stepsPerEpoch = Math.floor(trainSet.count / cfg.batchSize);

  await fs.mkdir(runDir, { recursive: true });
  await writeFileAtomic(path.join(runDir, 'config.json'), JSON.stringify(cfg, null, 2));
  await writeFileAtomic(path.join(runDir, 'split.json'), JSON.stringify({ ...data.split, classNames: data.classNames }, null, 2));

  const { model, step } = createRun(cfg, resumeState && resumeTensors ? { tensors: resumeTensors, state: resumeState } : undefined);
  opts.onProgress?.({
    kind: 'start', backend: backend.name, backendReason: backend.reason, fusedKernels: fusedKernelsActive(), skipped: backend.skipped, split: data.split, stepsPerEpoch,
    resumedFrom: resumeState ? { epoch: resumeState.epoch, step: resumeState.step } : null,
    ...(resumeState ? { restored: { config: cfg, overridden } } : {}),
    warnings: data.warnings,
  });

  let state: TrainState = resumeState ?? initialState();
  const save = async () => {
    const tensors = await checkpointTensors(model, step, state);
    // History first: a crash between the two leaves extra history entries, which resume drops
    // (it keeps the epochs before the checkpoint's), never a checkpoint without its history.
    await writeFileAtomic(path.join(runDir, 'history.json'), JSON.stringify(history, null, 2));
    await saveCheckpoint(runDir, `e${state.epoch}s${state.step}`, tensors, state);
    opts.onProgress?.({ kind: 'checkpoint', epoch: state.epoch, step: state.step });
  };

  let stopped = false;
  try {
    ({ stopped, state } = await runEpochs({
      cfg, model, step, trainSet, validation, state, history, signal: opts.signal, onProgress: opts.onProgress,
      save: async (next) => {
        state = next;
        await save();
      },
      // Let the event loop run so signals (Ctrl-C) and progress output get through.
      yieldNow: () => new Promise((r) => setImmediate(r)),
    }));
  } finally {
    step.dispose();
    model.dispose();
  }
  return { runDir, history, stopped, backend: backend.name };
}
