// trainInBrowser: GANomaly trained on frames in the page — no server, no upload. The same model,
// step, losses and epoch loop as the Node trainer (src/train/loop.ts), fed from memory; the
// validation slice is kept for calibration at export; checkpoints are bytes the page can keep in
// IndexedDB (see idb.ts) or hand back to resume.
import type { ModelConfig, SplitSizes, WeightMap } from '../types.js';
import { BROWSER_TRAIN_DEFAULTS, validateTrainConfig, type TrainingSettings } from '../config/train-config.js';
import { frameCount, type ImageSet } from '../data/imageSet.js';
import { checkpointTensors, createRun, initialState, runEpochs, TrainError, type EpochSummary, type TrainEvent, type TrainState } from '../train/loop.js';
import { selectBrowserBackend, type BrowserBackend, type BrowserBackendRequest } from './backend.js';
import { packCheckpoint, unpackCheckpoint } from './checkpoint-bytes.js';
import { framesToSets, type FrameInput } from './frames.js';
import { fusedKernelsActive } from '../backend/fused/ops.js';

/** What a browser run trains: the network and the optimiser, nothing about files. */
export type BrowserTrainConfig = TrainingSettings;

export type { EpochSummary, TrainEvent };

export type BrowserTrainEvent = TrainEvent | { kind: 'preprocessed'; train: number; validation: number };

export interface TrainInBrowserOptions {
  /** Normal frames: ImageData, ImageBitmap, canvas, video element, <img>, Blob, or raw pixels. */
  images: readonly FrameInput[];
  config?: Partial<Omit<BrowserTrainConfig, 'model'>> & { model?: Partial<ModelConfig> };
  onProgress?: (e: BrowserTrainEvent) => void;
  /** Stops between steps; the result then holds the weights so far (stopped: true). */
  signal?: AbortSignal;
  /** 'auto' (default): WebGPU with an adapter, else WASM, else cpu. */
  backend?: BrowserBackendRequest;
  /** Folder URL of tfjs-backend-wasm's .wasm files (see selectBrowserBackend). */
  tfjsWasmPaths?: string;
  /** @deprecated Renamed tfjsWasmPaths (the runtime's `wasmPaths` names onnxruntime-web's files). */
  wasmPaths?: string;
  /**
   * XNNPACK threads on WASM, 1 to 8. Default: every core when the page is cross-origin isolated
   * (COOP/COEP), else 1. `result.backend.threads` / `threadsWhy` say what ran and why.
   */
  wasmThreads?: number;
  /** A checkpoint from an earlier run's onCheckpoint / result.checkpoint(): continue it. */
  resume?: Uint8Array;
  /** Called after every epoch (and when stopped) with the checkpoint bytes. */
  onCheckpoint?: (bytes: Uint8Array, at: { epoch: number; step: number }) => void | Promise<void>;
}

export interface BrowserTrainResult {
  config: BrowserTrainConfig;
  weights: WeightMap;
  history: EpochSummary[];
  backend: BrowserBackend;
  split: SplitSizes;
  /** The held-out frames, preprocessed: exportInBrowser calibrates the threshold on them. */
  validation: ImageSet;
  stopped: boolean;
  /** Where training stood at the end: finished epochs, and steps into the next one after a mid-epoch stop. */
  trained: { epochs: number; stepsInEpoch: number };
  /** The final checkpoint (weights and optimiser state), for resuming or keeping. */
  checkpoint: Uint8Array;
}

function mergeConfig(c: TrainInBrowserOptions['config'] = {}): BrowserTrainConfig {
  const d = BROWSER_TRAIN_DEFAULTS;
  return {
    ...d, ...c,
    model: { ...d.model, ...(c.model ?? {}) },
    weights: { ...d.weights, ...(c.weights ?? {}) },
  };
}

/** A browser task boundary (MessageChannel: not throttled like setTimeout); setTimeout elsewhere. */
function yieldToPage(): Promise<void> {
  if (typeof MessageChannel === 'undefined') return new Promise((r) => setTimeout(r, 0));
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      resolve();
    };
    ch.port2.postMessage(0);
  });
}

export async function trainInBrowser(opts: TrainInBrowserOptions): Promise<BrowserTrainResult> {
  let cfg = mergeConfig(opts.config);
  let resumed: ReturnType<typeof unpackCheckpoint<TrainState, BrowserTrainConfig>> | null = null;
  if (opts.resume) {
    resumed = unpackCheckpoint<TrainState, BrowserTrainConfig>(opts.resume);
    // The checkpoint's own run settings win; only the epoch count may grow.
    cfg = { ...resumed.config, epochs: opts.config?.epochs ?? resumed.config.epochs };
  }
  validateTrainConfig(cfg);
  if (!Array.isArray(opts.images)) throw new TypeError('trainInBrowser needs { images: [...] }');
  const backend = await selectBrowserBackend(opts.backend ?? 'auto', { tfjsWasmPaths: opts.tfjsWasmPaths, wasmPaths: opts.wasmPaths, wasmThreads: opts.wasmThreads });
  const { isize, nc } = cfg.model;
  const sets = await framesToSets(opts.images, { isize, nc, seed: cfg.seed, validationFraction: cfg.validationFraction, tiling: cfg.tiling });
  if (sets.train.count < cfg.batchSize) {
    throw new TrainError(`${sets.train.count} training ${cfg.tiling ? 'tiles' : 'frames'} are fewer than one batch of ${cfg.batchSize}; capture more frames or lower batchSize`);
  }
  // Counted in frames (a patch model's sets hold tiles): the split is over frames.
  const [trainFrames, validationFrames] = [frameCount(sets.train), frameCount(sets.validation)];
  opts.onProgress?.({ kind: 'preprocessed', train: trainFrames, validation: validationFrames });
  const split: SplitSizes = { seed: cfg.seed, abnormalClass: '', trainNormal: trainFrames, validationNormal: validationFrames, testNormal: 0, testAbnormal: 0 };

  const { model, step } = createRun(cfg, resumed ?? undefined);
  const history: EpochSummary[] = [];
  let state: TrainState = resumed?.state ?? initialState();
  const snapshot = async (): Promise<Uint8Array> => {
    return packCheckpoint({ state, config: cfg, tensors: await checkpointTensors(model, step, state) });
  };
  opts.onProgress?.({
    kind: 'start', backend: backend.name, backendReason: backend.reason, fusedKernels: fusedKernelsActive(), skipped: backend.skipped, split,
    stepsPerEpoch: Math.floor(sets.train.count / cfg.batchSize), resumedFrom: resumed ? { epoch: state.epoch, step: state.step } : null,
  });
  try {
    let stopped: boolean;
    ({ stopped, state } = await runEpochs({
      cfg, model, step, trainSet: sets.train, validation: sets.validation, state, history, signal: opts.signal, onProgress: opts.onProgress,
      save: async (next) => {
        state = next;
        if (opts.onCheckpoint) {
          await opts.onCheckpoint(await snapshot(), { epoch: state.epoch, step: state.step });
          opts.onProgress?.({ kind: 'checkpoint', epoch: state.epoch, step: state.step });
        }
      },
      yieldNow: yieldToPage,
    }));
    const checkpoint = await snapshot();
    return { config: cfg, weights: await model.readWeights(), history, backend, split, validation: sets.validation, stopped, trained: { epochs: state.epoch, stepsInEpoch: state.step }, checkpoint };
  } finally {
    step.dispose();
    model.dispose();
  }
}
