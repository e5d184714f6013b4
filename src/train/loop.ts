// The epoch/step loop shared by the Node trainer (trainer.ts: files, checkpoints on disk) and the
// browser trainer (src/browser: frames in memory, checkpoints as bytes). Pure tfjs: no Node modules,
// so both run the same steps in the same order and reach the same losses from the same seed.
import * as tf from '@tensorflow/tfjs';
import { scoreStats } from '../stats.js';
import type { NamedTensor, ScoreStats, SplitSizes } from '../types.js';
import { gatherBatch } from '../data/batches.js';
import type { ImageSet } from '../data/imageSet.js';
import { createRng, deriveSeed } from '../data/rng.js';
import { GanomalyModel, latentDistance } from './model.js';
import { GanomalyStep, type StepLosses } from './step.js';
import type { TrainConfig, TrainingSettings } from '../config/train-config.js';
import { GanomalyError } from '@ganomaly-edge/runtime';

/** Training cannot go on with this data or run folder (too few images, an existing run, …). */
export class TrainError extends GanomalyError {
  override name = 'TrainError';
  readonly code = 'train_failed';
}

export type LossName = Exclude<keyof StepLosses, 'dReinit'>;

export interface EpochSummary {
  epoch: number;
  steps: number;
  seconds: number;
  imagesPerSec: number;
  losses: Record<LossName, number>;
  dReinits: number;
  /** Validation-normal anomaly scores (inference-mode BatchNorm). */
  validation: ScoreStats & { reconL1: number };
}

export type TrainEvent =
  | { kind: 'start'; backend: string; backendReason: string; skipped: { name: string; why: string }[]; split: SplitSizes; stepsPerEpoch: number; resumedFrom: { epoch: number; step: number } | null;
      /** Whether the step runs the fused training kernels (src/backend/fused) or tfjs's unfused ops on this backend. */
      fusedKernels: boolean;
      /** On resume: the configuration in effect (the run's own, restored) and which keys the caller overrode. */
      restored?: { config: TrainConfig; overridden: string[] };
      /** What the data loader noticed (ignored files, skipped images, an empty abnormal class). */
      warnings?: string[] }
  | { kind: 'step'; epoch: number; epochs: number; step: number; steps: number; imagesPerSec: number; losses: StepLosses }
  | { kind: 'validate'; epoch: number }
  | { kind: 'epoch'; summary: EpochSummary }
  | { kind: 'checkpoint'; epoch: number; step: number };

/** Where a run is: epoch in progress, steps done in it, optimiser steps, the epoch's running sums. */
export interface TrainState {
  /** Epoch in progress (0-based) and the number of its steps already done. */
  epoch: number;
  step: number;
  optGStep: number;
  optDStep: number;
  partial: { sums: Record<LossName, number>; steps: number; dReinits: number; seconds: number };
}

export const LOSS_NAMES: LossName[] = ['errG', 'errGAdv', 'errGCon', 'errGEnc', 'errD', 'errDReal', 'errDFake'];
/** An epoch's running sums before its first step. */
const emptyPartial = (): TrainState['partial'] => ({ sums: zeroSums(), steps: 0, dReinits: 0, seconds: 0 });

/** A run before its first step. */
export const initialState = (): TrainState => ({ epoch: 0, step: 0, optGStep: 0, optDStep: 0, partial: emptyPartial() });

const zeroSums = () => Object.fromEntries(LOSS_NAMES.map((k) => [k, 0])) as Record<LossName, number>;

/** Scores a set in inference mode; returns per-image latent scores and the mean reconstruction L1. */
export async function scoreSet(model: GanomalyModel, set: ImageSet, batchSize: number): Promise<{ scores: Float32Array; reconL1: number }> {
  const { isize, nc } = model.config;
  const per = isize * isize * nc;
  const scores = new Float32Array(set.count);
  let l1 = 0;
  for (let start = 0; start < set.count; start += batchSize) {
    const n = Math.min(batchSize, set.count - start);
    const [s, r] = tf.tidy(() => {
      const x = tf.tensor4d(set.images.subarray(start * per, (start + n) * per), [n, isize, isize, nc]);
      const { z, xHat, zHat } = model.generate(x, false);
      return [latentDistance(z, zHat, model.config.scoreKind), x.sub(xHat).abs().sum()] as const;
    });
    scores.set(await s.data(), start);
    l1 += (await r.data())[0]!;
    tf.dispose([s, r]);
  }
  return { scores, reconL1: l1 / Math.max(1, set.count * per) };
}

/**
 * The model and optimiser step of a run, fresh from the seed or restored from checkpoint tensors.
 * One place for the seed derivations, so every trainer starts from the same weights.
 */
export function createRun(
  cfg: Pick<TrainingSettings, 'model' | 'weights' | 'lr' | 'beta1' | 'beta2' | 'seed'>,
  resume?: { tensors: Record<string, NamedTensor>; state: TrainState },
): { model: GanomalyModel; step: GanomalyStep } {
  const model = resume ? GanomalyModel.fromWeights(cfg.model, resume.tensors) : GanomalyModel.create(cfg.model, deriveSeed(cfg.seed, 1));
  const step = new GanomalyStep(model, cfg.weights, cfg, deriveSeed(cfg.seed, 2));
  if (resume) {
    step.optG.setState('optG', resume.tensors, resume.state.optGStep);
    step.optD.setState('optD', resume.tensors, resume.state.optDStep);
  }
  return { model, step };
}

/** What a checkpoint holds: weights and both optimisers' moments; records the optimiser steps in `state`. */
export async function checkpointTensors(model: GanomalyModel, step: GanomalyStep, state: TrainState): Promise<Record<string, NamedTensor>> {
  state.optGStep = step.optG.step;
  state.optDStep = step.optD.step;
  return { ...(await model.readWeights()), ...(await step.optG.readState('optG')), ...(await step.optD.readState('optD')) };
}

export interface LoopContext {
  cfg: Pick<TrainingSettings, 'epochs' | 'batchSize' | 'seed' | 'model'>;
  model: GanomalyModel;
  step: GanomalyStep;
  trainSet: ImageSet;
  validation: ImageSet;
  state: TrainState;
  /** Epoch summaries so far; the loop appends one per finished epoch. */
  history: EpochSummary[];
  signal?: AbortSignal;
  onProgress?: (e: TrainEvent) => void;
  /** Persists the state after each epoch (and once when stopped mid-epoch). */
  save(state: TrainState): Promise<void>;
  /** Gives the host's event loop a turn between steps (setImmediate in Node, a task in browsers). */
  yieldNow(): Promise<void>;
}

/** Runs the remaining epochs of `state`; resolves with stopped = true when the signal ended it early. */
export async function runEpochs(ctx: LoopContext): Promise<{ stopped: boolean; state: TrainState }> {
  const { cfg, model, step, trainSet, validation, history } = ctx;
  const { isize, nc } = cfg.model;
  const stepsPerEpoch = Math.floor(trainSet.count / cfg.batchSize);
  const batchBuf = new Float32Array(cfg.batchSize * isize * isize * nc);
  let state = ctx.state;
  let stopped = false;
  for (; state.epoch < cfg.epochs; ) {
    // Batch order depends only on (seed, epoch): a resumed epoch replays the same batches.
    const order = createRng(deriveSeed(cfg.seed, 1000 + state.epoch)).shuffle(Int32Array.from({ length: trainSet.count }, (_, i) => i));
    let t0 = performance.now();
    for (; state.step < stepsPerEpoch; state.step++) {
      if (ctx.signal?.aborted) {
        stopped = true;
        break;
      }
      const idx = order.subarray(state.step * cfg.batchSize, (state.step + 1) * cfg.batchSize);
      gatherBatch(trainSet, idx, batchBuf);
      const x = tf.tensor4d(batchBuf, [cfg.batchSize, isize, isize, nc]);
      const losses = await step.run(x);
      x.dispose();
      for (const k of LOSS_NAMES) {
        if (!Number.isFinite(losses[k])) throw new TrainError(`loss ${k} became ${losses[k]} at epoch ${state.epoch + 1} step ${state.step + 1}; lower --lr`);
        state.partial.sums[k] += losses[k];
      }
      state.partial.steps++;
      if (losses.dReinit) state.partial.dReinits++;
      const now = performance.now();
      state.partial.seconds += (now - t0) / 1000;
      t0 = now;
      ctx.onProgress?.({
        kind: 'step', epoch: state.epoch + 1, epochs: cfg.epochs, step: state.step + 1, steps: stepsPerEpoch,
        imagesPerSec: (state.partial.steps * cfg.batchSize) / Math.max(1e-9, state.partial.seconds), losses,
      });
      await ctx.yieldNow();
    }
    if (stopped) break;
    ctx.onProgress?.({ kind: 'validate', epoch: state.epoch + 1 });
    const val = await scoreSet(model, validation, cfg.batchSize);
    const p = state.partial;
    const summary: EpochSummary = {
      epoch: state.epoch,
      steps: p.steps,
      seconds: p.seconds,
      imagesPerSec: (p.steps * cfg.batchSize) / Math.max(1e-9, p.seconds),
      losses: Object.fromEntries(LOSS_NAMES.map((k) => [k, p.sums[k] / Math.max(1, p.steps)])) as Record<LossName, number>,
      dReinits: p.dReinits,
      validation: { ...scoreStats(val.scores), reconL1: val.reconL1 },
    };
    history.push(summary);
    state = { ...state, epoch: state.epoch + 1, step: 0, partial: emptyPartial() };
    await ctx.save(state);
    ctx.onProgress?.({ kind: 'epoch', summary });
  }
  if (stopped) await ctx.save(state);
  return { stopped, state };
}
