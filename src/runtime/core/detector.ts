// The platform-neutral detector: one session, preprocessing from the manifest, batching,
// calibrated scores. The Node and browser entries only supply a RuntimePlatform.
import { checkRange, RUNTIME_RANGES } from '../../option-ranges.js';
import type { Manifest, Precision, Tiling } from '../../types.js';
import { Batcher } from './batcher.js';
import { DisposedError, InvalidImageError, ModelLoadError, NonFiniteScoreError, errorMessage, typeName } from './errors.js';
import { inputSize, toPixels } from './images.js';
import { preprocessCheckedPixels } from './pixels.js';
import { loadModel, type ModelSource } from './model-source.js';
import type { ExecutionProvider, FloatTensor, InferenceHandle, Logger, RuntimePlatform } from './platform.js';
import { createSessionWithFallback } from './providers.js';
import { isAnomalous, normalizeScore } from './scores.js';
import { assembleTileMaps, boxInSource, cutFrameTiles, tileAt, type FrameTiles, type TileBox } from './tiling.js';

/** Extra per-image outputs a caller can ask for, and the graph outputs behind them. */
export const OPTIONAL_OUTPUTS = { z: 'z', zHat: 'z_hat', reconstruction: 'x_hat', anomalyMap: 'anomaly_map' } as const;
export type OptionalOutput = keyof typeof OPTIONAL_OUTPUTS;
/** What score() can add to a result: graph outputs, and for patch models every tile's score. */
export type ScoreOutput = OptionalOutput | 'tiles';

/** One tile of a patch model's frame: its square in the image's pixels and its raw score. */
export interface TileScore {
  box: TileBox;
  score: number;
}

/** A float image in model layout (CHW). reconstruction is in model units (after mean/std). */
export interface ImageTensor {
  data: Float32Array;
  channels: number;
  height: number;
  width: number;
}

export interface ScoreResult {
  /** Raw GANomaly score (latent distance); higher = more anomalous. */
  score: number;
  /** Score scaled by validation-normal min/max from export, clipped to [0, 1]. */
  normalized: number;
  /** score > threshold. */
  isAnomaly: boolean;
  threshold: number;
  /** Latent code of the input, [nz]. */
  z?: Float32Array;
  /** Latent code of the reconstruction, [nz]. */
  zHat?: Float32Array;
  /** Generator output x̂, same layout and units as the model input. */
  reconstruction?: ImageTensor;
  /**
   * Mean over channels of |x − x̂|, 1 × isize × isize; for a patch model the tiles' maps put back
   * together over the whole frame (overlaps averaged), at the tiling's frame size.
   */
  anomalyMap?: ImageTensor;
  /** Patch models: the tile that decided the frame's score (z, zHat are this tile's). */
  worstTile?: TileScore;
  /** Patch models, with outputs: ['tiles']: every tile, row by row. */
  tiles?: TileScore[];
}

export interface ScoreOptions {
  outputs?: readonly ScoreOutput[];
  /** Overrides the detector's threshold for this call. */
  threshold?: number;
}

export interface DetectorOptions {
  /** Model folder path (Node), folder URL, or `{ manifest, detector }` bytes. */
  model: ModelSource;
  /** Tried in order until one can create a session. Default: the platform's (cuda, cpu / webgpu, wasm). */
  executionProviders?: readonly ExecutionProvider[];
  /** Raw-score threshold; default: the manifest's threshold.value. */
  threshold?: number;
  /** Check detector.onnx's size and sha256 against the manifest. Default true. */
  verifyIntegrity?: boolean;
  /** Where the one warning about skipped providers goes. Default console; null silences it. */
  logger?: Logger | null;
  /** Most images per ONNX Runtime run, 1-4096. Default 16. */
  maxBatch?: number;
  /**
   * Which detector to load: 'fp32' (detector.onnx, the default), 'fp16' or 'int8' (the variants in
   * manifest.variants, each with its own calibration and threshold). Default: fp32, or the
   * precision a model package's `{ manifest, detector, precision }` names.
   */
  precision?: Precision;
  /** A model URL that sends nothing for this long is given up (InputLimitError). Default 30 s. */
  fetchTimeoutMs?: number;
  /**
   * Most images score() decodes at once. Each is preprocessed as soon as it is decoded and its
   * pixels dropped, so score() holds at most this many decoded images, however long the list.
   * 1-64. Default 4.
   */
  decodeConcurrency?: number;
}

export const DEFAULT_MAX_BATCH = 16;
export const DEFAULT_DECODE_CONCURRENCY = 4;

function checkThreshold(t: unknown, what: string): number {
  return checkRange(RUNTIME_RANGES.threshold, t, what);
}

export class Detector<Input> {
  private batcher: Batcher;
  private disposed = false;

  private constructor(
    private readonly platform: RuntimePlatform,
    private readonly session: InferenceHandle,
    readonly manifest: Manifest,
    /** The execution provider the session runs on. */
    readonly provider: string,
    readonly threshold: number,
    readonly maxBatch: number,
    /** The precision of the loaded graph; `manifest` carries that variant's calibration and threshold. */
    readonly precision: Precision,
    private readonly decodeConcurrency: number,
  ) {
    const [n, c, h, w] = manifest.input.shape;
    const fixedBatch = typeof n === 'number' ? n : undefined;
    this.maxBatch = fixedBatch ?? maxBatch;
    this.batcher = new Batcher(session, { inputName: manifest.input.name, itemShape: [c, h, w], maxBatch: this.maxBatch, fixedBatch });
  }

  static async create<Input>(platform: RuntimePlatform, options: DetectorOptions): Promise<Detector<Input>> {
    if (typeof options !== 'object' || options === null || options.model === undefined) {
      throw new TypeError('createDetector needs { model }: a model folder, URL, or { manifest, detector } bytes');
    }
    // Ranges from the one table the CLI and the gateway use too (option-ranges.ts).
    const maxBatch = checkRange(RUNTIME_RANGES.maxBatch, options.maxBatch ?? DEFAULT_MAX_BATCH, 'maxBatch');
    const decodeConcurrency = checkRange(RUNTIME_RANGES.decodeConcurrency, options.decodeConcurrency ?? DEFAULT_DECODE_CONCURRENCY, 'decodeConcurrency');
    if (options.threshold !== undefined) checkThreshold(options.threshold, 'threshold');
    const { manifest, detector, precision, file } = await loadModel(platform, options.model, options.verifyIntegrity ?? true, { fetchTimeoutMs: options.fetchTimeoutMs }, options.precision);
    const logger = options.logger === undefined ? console : options.logger;
    const providers = options.executionProviders ?? platform.defaultProviders;
    const { session, provider } = await createSessionWithFallback(platform, detector, providers, logger);
    const missing = [
      ...(session.inputNames.includes(manifest.input.name) ? [] : [`input '${manifest.input.name}'`]),
      ...(session.outputNames.includes('score') ? [] : ["output 'score'"]),
    ];
    if (missing.length > 0) {
      await session.release();
      throw new ModelLoadError(`${file} lacks ${missing.join(' and ')} (it has inputs ${session.inputNames.join(', ')}; outputs ${session.outputNames.join(', ')})`);
    }
    try {
      await probeSession(session, manifest);
    } catch (e) {
      await session.release();
      throw e;
    }
    const threshold = options.threshold ?? manifest.threshold.value;
    return new Detector<Input>(platform, session, manifest, provider, threshold, maxBatch, precision, decodeConcurrency);
  }

  /** Scores one image, or a list of images (results in input order). */
  score(image: Input, options?: ScoreOptions): Promise<ScoreResult>;
  score(images: readonly Input[], options?: ScoreOptions): Promise<ScoreResult[]>;
  async score(images: Input | readonly Input[], options: ScoreOptions = {}): Promise<ScoreResult | ScoreResult[]> {
    const list = Array.isArray(images) ? (images as readonly Input[]) : [images as Input];
    if (this.tiling) {
      const results = await this.scoreFrames(list, this.tiling, options);
      return Array.isArray(images) ? results : results[0]!;
    }
    const results = await this.scoreChunks(list.length, (start, end) => this.prepare(list.slice(start, end), start), options);
    return Array.isArray(images) ? results : results[0]!;
  }

  /**
   * Scores images that are already model input: each a CHW Float32Array of the manifest's
   * preprocessing (preprocessPixels makes one from pixels; for a patch model each is one tile, and
   * scoreTiles scores a whole cut frame). For callers that decode elsewhere —
   * a worker thread, a video decoder — and hand over only the small tensor. The arrays are
   * copied into the batch, never changed.
   */
  scorePreprocessed(input: Float32Array, options?: ScoreOptions): Promise<ScoreResult>;
  scorePreprocessed(inputs: readonly Float32Array[], options?: ScoreOptions): Promise<ScoreResult[]>;
  async scorePreprocessed(inputs: Float32Array | readonly Float32Array[], options: ScoreOptions = {}): Promise<ScoreResult | ScoreResult[]> {
    const list = inputs instanceof Float32Array ? [inputs] : inputs;
    const size = inputSize(this.manifest.preprocessing);
    list.forEach((x, i) => {
      if (!(x instanceof Float32Array) || x.length !== size) {
        const got = x instanceof Float32Array ? `${x.length} values` : typeName(x);
        throw new InvalidImageError(`preprocessed input ${i} must be a Float32Array of ${size} values (the model's ${this.manifest.input.shape.slice(1).join('×')} input); got ${got}`, i);
      }
    });
    const results = await this.scoreChunks(list.length, async (start, end) => list.slice(start, end), options);
    return inputs instanceof Float32Array ? results[0]! : results;
  }

  /** How a patch model cuts frames (manifest.tiling); undefined for whole-image models. */
  get tiling(): Tiling | undefined {
    return this.manifest.tiling;
  }

  /**
   * Scores one frame already cut by cutFrameTiles (with this model's tiling and preprocessing, CHW):
   * for callers that cut frames elsewhere, such as a decode worker. Same result as score() on the frame.
   */
  async scoreTiles(cut: FrameTiles, options: ScoreOptions = {}): Promise<ScoreResult> {
    if (this.disposed) throw new DisposedError('detector has been disposed');
    if (!this.tiling) throw new TypeError('scoreTiles needs a patch model (a manifest with tiling); this model scores whole images');
    const size = inputSize(this.manifest.preprocessing);
    if (cut.layout !== 'CHW' || cut.per !== size || cut.data.length !== cut.count * size || cut.boxes.length !== cut.count || cut.count < 1) {
      throw new InvalidImageError(`scoreTiles needs tiles cut by cutFrameTiles for this model (CHW, ${size} values each); got ${cut.count} tiles of ${cut.per} values (${cut.layout})`);
    }
    const threshold = this.thresholdFor(options);
    return this.runTiles(cut, this.outputsToFetch(options.outputs ?? []), threshold, (options.outputs ?? []).includes('tiles'));
  }

  /** Releases the session after queued work finishes. Further score() calls reject. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.batcher.close();
    await this.session.release();
  }

  /** Runs `n` images in chunks of maxBatch; preparing chunk k+1 overlaps the run of chunk k, so at most two chunks are held. */
  private async scoreChunks(n: number, chunk: (start: number, end: number) => Promise<Float32Array[]>, options: ScoreOptions): Promise<ScoreResult[]> {
    if (this.disposed) throw new DisposedError('detector has been disposed');
    const threshold = this.thresholdFor(options);
    const fetch = this.outputsToFetch(options.outputs ?? []);
    const results: ScoreResult[] = [];
    let pending: Promise<Record<string, FloatTensor>[]> | undefined;
    for (let start = 0; start < n; start += this.maxBatch) {
      let inputs: Float32Array[];
      try {
        inputs = await chunk(start, Math.min(n, start + this.maxBatch));
      } catch (e) {
        pending?.catch(() => undefined); // the decode error is the one to report
        throw e;
      }
      if (pending) results.push(...(await pending).map((o) => this.toResult(o, threshold)));
      pending = this.batcher.submit(inputs, fetch);
    }
    if (pending) results.push(...(await pending).map((o) => this.toResult(o, threshold)));
    return results;
  }

  /** The call's threshold (checked) or the detector's. */
  private thresholdFor(options: ScoreOptions): number {
    return options.threshold === undefined ? this.threshold : checkThreshold(options.threshold, 'threshold');
  }

  private outputsToFetch(wanted: readonly ScoreOutput[]): string[] {
    const fetch = ['score'];
    for (const name of wanted) {
      if (name === 'tiles') {
        if (!this.tiling) throw new TypeError("output 'tiles' needs a patch model (a manifest with tiling); this model scores whole images");
        continue;
      }
      const tensor = OPTIONAL_OUTPUTS[name];
      if (tensor === undefined) {
        throw new TypeError(`unknown output '${String(name)}'; choose from ${[...Object.keys(OPTIONAL_OUTPUTS), 'tiles'].join(', ')}`);
      }
      if (!this.session.outputNames.includes(tensor)) throw new ModelLoadError(`this model's graph has no '${tensor}' output (needed for '${name}')`);
      if (!fetch.includes(tensor)) fetch.push(tensor);
    }
    return fetch;
  }

  /**
   * Decodes and preprocesses a chunk, at most decodeConcurrency images at a time: each image's
   * pixels are dropped once preprocessed, so a list of huge images never sits decoded at once.
   * The first failure (in input order among those tried) is reported; the rest are not started.
   */
  private prepare(chunk: readonly Input[], offset: number): Promise<Float32Array[]> {
    return mapInLanes(chunk.length, this.decodeConcurrency, async (i) =>
      preprocessCheckedPixels(await toPixels(this.platform, chunk[i], offset + i), this.manifest.preprocessing, 'CHW'));
  }

  /**
   * Patch models: each frame decoded, cut and scored; up to decodeConcurrency frames in flight, so
   * the batcher packs tiles of several frames into one run. Results in input order; the first
   * failure (in input order among those tried) is reported.
   */
  private async scoreFrames(list: readonly Input[], tiling: Tiling, options: ScoreOptions): Promise<ScoreResult[]> {
    if (this.disposed) throw new DisposedError('detector has been disposed');
    const threshold = this.thresholdFor(options);
    const fetch = this.outputsToFetch(options.outputs ?? []);
    const wantTiles = (options.outputs ?? []).includes('tiles');
    return mapInLanes(list.length, this.decodeConcurrency, async (i) => {
      const cut = cutFrameTiles(await toPixels(this.platform, list[i], i), tiling, this.manifest.preprocessing, 'CHW');
      return this.runTiles(cut, fetch, threshold, wantTiles);
    });
  }

  /** Scores a cut frame's tiles in batches and reduces them: the worst tile's score is the frame's. */
  private async runTiles(cut: FrameTiles, fetch: string[], threshold: number, wantTiles: boolean): Promise<ScoreResult> {
    const chunks: Promise<Record<string, FloatTensor>[]>[] = [];
    for (let start = 0; start < cut.count; start += this.maxBatch) {
      const end = Math.min(cut.count, start + this.maxBatch);
      chunks.push(this.batcher.submit(Array.from({ length: end - start }, (_, k) => tileAt(cut, start + k)), fetch));
    }
    const outs = (await Promise.all(chunks)).flat();
    const scores = outs.map((o) => finiteScore(o.score!.data[0]!));
    let worst = 0;
    for (let k = 1; k < scores.length; k++) if (scores[k]! > scores[worst]!) worst = k;
    const score = scores[worst]!;
    const r: ScoreResult = {
      score,
      normalized: normalizeScore(score, this.manifest.calibration),
      isAnomaly: isAnomalous(score, threshold),
      threshold,
      worstTile: { box: boxInSource(cut.boxes[worst]!, cut), score },
    };
    if (wantTiles) r.tiles = cut.boxes.map((b, k) => ({ box: boxInSource(b, cut), score: scores[k]! }));
    const w = outs[worst]!;
    if (w.z) r.z = w.z.data;
    if (w.z_hat) r.zHat = w.z_hat.data;
    const frameImage = (name: string): ImageTensor => {
      const channels = outs[0]![name]!.dims[0] ?? 1;
      const data = assembleTileMaps(outs.map((o) => o[name]!.data), cut.boxes, cut.frame, channels);
      return { data, channels, height: cut.frame.height, width: cut.frame.width };
    };
    if (w.x_hat) r.reconstruction = frameImage('x_hat');
    if (w.anomaly_map) r.anomalyMap = frameImage('anomaly_map');
    return r;
  }

  private toResult(o: Record<string, FloatTensor>, threshold: number): ScoreResult {
    const score = finiteScore(o.score!.data[0]!);
    const r: ScoreResult = {
      score,
      normalized: normalizeScore(score, this.manifest.calibration),
      isAnomaly: isAnomalous(score, threshold),
      threshold,
    };
    if (o.z) r.z = o.z.data;
    if (o.z_hat) r.zHat = o.z_hat.data;
    if (o.x_hat) r.reconstruction = imageTensor(o.x_hat);
    if (o.anomaly_map) r.anomalyMap = imageTensor(o.anomaly_map);
    return r;
  }
}

/**
 * Runs the graph once on a zero batch of the manifest's input shape, so a graph that cannot run
 * what the manifest describes (a 32×32 graph under a manifest saying 64) fails here, at load,
 * with a ModelLoadError, instead of on every score.
 */
async function probeSession(session: InferenceHandle, manifest: Manifest): Promise<void> {
  const [n, c, h, w] = manifest.input.shape as [number | string, number, number, number];
  const batch = typeof n === 'number' ? n : 1;
  const dims = [batch, c, h, w];
  const fetch = ['score', ...(session.outputNames.includes('x_hat') ? ['x_hat'] : [])];
  let out: Record<string, FloatTensor>;
  try {
    out = await session.run(manifest.input.name, { data: new Float32Array(batch * c * h * w), dims }, fetch);
  } catch (e) {
    const first = errorMessage(e).split('\n')[0]!.slice(0, 300);
    throw new ModelLoadError(`detector.onnx cannot run the manifest's input shape [${dims.join(', ')}] (${first}); the graph and manifest.json do not belong together — re-export the model`);
  }
  const score = out.score!;
  if (score.data.length !== batch) {
    throw new ModelLoadError(`detector.onnx returns ${score.data.length} score(s) for a batch of ${batch} (dims [${score.dims.join(', ')}]); expected one per image`);
  }
  const xHat = out.x_hat;
  if (xHat && xHat.dims.join() !== dims.join()) {
    throw new ModelLoadError(`detector.onnx reconstructs [${xHat.dims.join(', ')}] from an input of [${dims.join(', ')}]; the graph and manifest.json do not belong together — re-export the model`);
  }
}

/**
 * work(0 … n−1) with at most `lanes` in flight, results in index order. After a failure no new
 * index starts, and the first failure in index order among those tried is thrown.
 */
async function mapInLanes<T>(n: number, lanes: number, work: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  const failures: { index: number; error: unknown }[] = [];
  let next = 0;
  const lane = async () => {
    while (failures.length === 0 && next < n) {
      const i = next++;
      try {
        out[i] = await work(i);
      } catch (error) {
        failures.push({ index: i, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, n) }, lane));
  if (failures.length > 0) throw failures.reduce((a, b) => (b.index < a.index ? b : a)).error;
  return out;
}

function finiteScore(score: number): number {
  if (!Number.isFinite(score)) {
    throw new NonFiniteScoreError(`the model produced a non-finite score (${score}); its graph or preprocessing (mean/std) is broken — re-export the model`);
  }
  return score;
}

function imageTensor(t: FloatTensor): ImageTensor {
  const [channels = 1, height = 1, width = 1] = t.dims;
  return { data: t.data, channels, height, width };
}
