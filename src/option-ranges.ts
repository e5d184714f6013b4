// Every numeric option of every command and library call, with its range, in one table: the CLI
// parsers (cli-args.ts rangedOption) and the library checks (checkRange) read the same entry, so a
// CLI user and an API user get the same RangeError, and the docs' range tables are generated from
// it (scripts/option-ranges-docs.ts; test/unit/cli/option-ranges.test.ts keeps them in step).
// Nothing here imports anything: the runtime, the gateway, the browser package and the toolkit
// each bundle it.

export interface NumericRange {
  readonly min: number;
  readonly max: number;
  readonly integer: boolean;
  /** What the number counts, for messages and docs ('ms', 'bytes', 'px', …). 'bytes' also accepts sizes such as 10mb on the CLI. */
  readonly unit?: string;
  /** min itself is outside the range. */
  readonly minExclusive?: boolean;
  /** max itself is outside the range. */
  readonly maxExclusive?: boolean;
  /** Only multiples of this (e.g. 16 for the input size). */
  readonly multipleOf?: number;
  /** Only these values (e.g. 1 or 3 channels). */
  readonly oneOf?: readonly number[];
}

/** A range as one option has it: its CLI flag (without --) and/or its library field. */
export interface NumericOption extends NumericRange {
  readonly flag?: string;
  /** The library field that takes the same value, as a path (`model.ngf`, `cameras[].fps`). */
  readonly field?: string;
}

/** A number out of its option's range, or text that is not a number of the right kind. A RangeError, as every bad argument. */
export class OptionRangeError extends RangeError {
  override name = 'RangeError';
  /** The CLI maps it to exit code 2 (bad usage), as it does `invalid_usage`. */
  readonly code = 'option_out_of_range';
}

// ---- shared ranges --------------------------------------------------------------------------

/** setTimeout's largest delay; Node clamps anything larger to 1 ms (with a warning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;
const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const TiB = 1024 ** 4;

const PORT = { min: 0, max: 65535, integer: true } as const;
const TIMER_MS = { min: 1, max: MAX_TIMER_MS, integer: true, unit: 'ms' } as const;
/** Raw-score thresholds: any finite number (a negative one flags every image). */
const THRESHOLD = { min: -Number.MAX_VALUE, max: Number.MAX_VALUE, integer: false } as const;
const SEED = { min: 0, max: 0xffff_ffff, integer: true } as const;
const MAX_IMAGES = { min: 2, max: 1_000_000_000, integer: true, unit: 'images' } as const;
const VALIDATION_FRACTION = { min: 0, max: 1, integer: false, minExclusive: true, maxExclusive: true } as const;
/** Images per ONNX Runtime run. */
const BATCH = { min: 1, max: 4096, integer: true, unit: 'images' } as const;
const HEATMAP_SIZE = { min: 1, max: 4096, integer: true, unit: 'px' } as const;
/** Decoded pixel bytes held at once. */
const DECODED_BYTES = { min: 1, max: 64 * GiB, integer: true, unit: 'bytes' } as const;

// ---- the table ------------------------------------------------------------------------------

/** The runtime's options (createDetector, renderHeatmapPng); `score` and `serve` pass theirs through. */
export const RUNTIME_RANGES = {
  maxBatch: { field: 'maxBatch', ...BATCH },
  decodeConcurrency: { field: 'decodeConcurrency', min: 1, max: 64, integer: true, unit: 'threads' },
  threshold: { field: 'threshold', ...THRESHOLD },
  limitInputPixels: { field: 'limitInputPixels', min: 1, max: 1_000_000_000, integer: true, unit: 'pixels' },
  heatmapSize: { field: 'renderHeatmapPng size', ...HEATMAP_SIZE },
} as const satisfies Record<string, NumericOption>;

export const SCORE_RANGES = {
  batchSize: { flag: 'batch-size', field: 'maxBatch', ...BATCH },
  maxDecoded: { flag: 'max-decoded', ...DECODED_BYTES },
  heatmapSize: { flag: 'heatmap-size', field: 'renderHeatmapPng size', ...HEATMAP_SIZE },
  threshold: { flag: 'threshold', field: 'threshold', ...THRESHOLD },
} as const satisfies Record<string, NumericOption>;

/** `serve` (ServeOptions of startServer). */
export const SERVE_RANGES = {
  port: { flag: 'port', field: 'port', ...PORT },
  healthPort: { flag: 'health-port', field: 'healthPort', ...PORT },
  maxBatch: { flag: 'max-batch', field: 'maxBatch', ...BATCH },
  maxWaitMs: { flag: 'max-wait-ms', field: 'maxWaitMs', min: 0, max: MAX_TIMER_MS, integer: false, unit: 'ms' },
  maxQueue: { flag: 'max-queue', field: 'maxQueue', min: 1, max: 65_536, integer: true, unit: 'images' },
  maxBodyBytes: { flag: 'max-body', field: 'maxBodyBytes', min: 1, max: 2 * GiB, integer: true, unit: 'bytes' },
  limitInputPixels: { flag: 'max-pixels', ...RUNTIME_RANGES.limitInputPixels },
  maxDecodedBytes: { flag: 'max-decoded', field: 'maxDecodedBytes', ...DECODED_BYTES },
  decodeWaitMs: { flag: 'decode-wait-ms', field: 'decodeWaitMs', ...TIMER_MS },
  decodeTimeoutMs: { flag: 'decode-timeout-ms', field: 'decodeTimeoutMs', ...TIMER_MS },
  decodeConcurrency: { flag: 'decode-concurrency', ...RUNTIME_RANGES.decodeConcurrency },
  timeoutMs: { flag: 'timeout-ms', field: 'timeoutMs', ...TIMER_MS },
  bodyTimeoutMs: { flag: 'body-timeout-ms', field: 'bodyTimeoutMs', ...TIMER_MS },
  threshold: { flag: 'threshold', field: 'threshold', ...THRESHOLD },
  threads: { flag: 'threads', field: 'sessionOptions.intraOpNumThreads', min: 1, max: 1024, integer: true, unit: 'threads' },
  heatmapSize: { field: 'heatmapSize', ...HEATMAP_SIZE },
} as const satisfies Record<string, NumericOption>;

/** `train` (TrainConfig / TrainingSettings; validateTrainConfig). */
export const TRAIN_RANGES = {
  maxImages: { flag: 'max-images', field: 'maxImages', ...MAX_IMAGES },
  validationFraction: { flag: 'validation-fraction', field: 'validationFraction', ...VALIDATION_FRACTION },
  isize: { flag: 'isize', field: 'model.isize', min: 16, max: 1024, integer: true, multipleOf: 16, unit: 'px' },
  channels: { flag: 'channels', field: 'model.nc', min: 1, max: 3, integer: true, oneOf: [1, 3] },
  nz: { flag: 'nz', field: 'model.nz', min: 1, max: 4096, integer: true },
  ngf: { flag: 'ngf', field: 'model.ngf', min: 1, max: 1024, integer: true },
  ndf: { flag: 'ndf', field: 'model.ndf', min: 1, max: 1024, integer: true },
  epochs: { flag: 'epochs', field: 'epochs', min: 1, max: 100_000, integer: true },
  batchSize: { flag: 'batch-size', field: 'batchSize', min: 2, max: 65_536, integer: true, unit: 'images' },
  lr: { flag: 'lr', field: 'lr', min: 0, max: 10, integer: false },
  // Adam's bias correction divides by 1 − beta^t: beta 1 divides by zero, beta > 1 flips signs.
  beta1: { flag: 'beta1', field: 'beta1', min: 0, max: 1, integer: false, maxExclusive: true },
  beta2: { flag: 'beta2', field: 'beta2', min: 0, max: 1, integer: false, maxExclusive: true },
  wAdv: { flag: 'w-adv', field: 'weights.adv', min: 0, max: 1e6, integer: false },
  wCon: { flag: 'w-con', field: 'weights.con', min: 0, max: 1e6, integer: false },
  wEnc: { flag: 'w-enc', field: 'weights.enc', min: 0, max: 1e6, integer: false },
  seed: { flag: 'seed', field: 'seed', ...SEED },
  // Patch models: the tile is the model's input (isize's range); tilingProblems checks the rest.
  tile: { flag: 'tile', field: 'tiling.tile', min: 16, max: 1024, integer: true, multipleOf: 16, unit: 'px' },
  tileStride: { flag: 'tile-stride', field: 'tiling.stride', min: 1, max: 1024, integer: true, unit: 'px' },
} as const satisfies Record<string, NumericOption>;

/** Whole model weights (GE, GD, E, D in float32) at most: the widths' caps alone allow far more at a large isize. */
export const MAX_MODEL_BYTES = 2 * GiB;

/** `export` (exportRun options). */
export const EXPORT_RANGES = {
  opset: { flag: 'opset', field: 'opset', min: 13, max: 21, integer: true },
  thresholdQuantile: { flag: 'threshold-quantile', field: 'thresholdQuantile', min: 0, max: 1, integer: false, minExclusive: true },
  threshold: { flag: 'threshold', field: 'threshold', ...THRESHOLD },
  parityImages: { flag: 'parity-images', field: 'parityImages', min: 1, max: 4096, integer: true, unit: 'images' },
  parityTolerance: { field: 'parityTolerance', min: 0, max: 1, integer: false, minExclusive: true },
} as const satisfies Record<string, NumericOption>;

/** `quantize` takes no numbers; listed so that the test sees every command. */
export const QUANTIZE_RANGES = {} as const satisfies Record<string, NumericOption>;

/** `eval` (evaluateModel options). */
export const EVAL_RANGES = {
  seed: { flag: 'seed', field: 'seed', ...SEED },
  maxImages: { flag: 'max-images', field: 'maxImages', ...MAX_IMAGES },
  validationFraction: { flag: 'validation-fraction', field: 'validationFraction', ...VALIDATION_FRACTION },
  threshold: { flag: 'threshold', field: 'threshold', ...THRESHOLD },
  batchSize: { flag: 'batch-size', field: 'batchSize', ...BATCH },
} as const satisfies Record<string, NumericOption>;

/** `triton` (writeTritonRepository options). */
export const TRITON_RANGES = {
  maxBatchSize: { flag: 'max-batch-size', field: 'maxBatchSize', ...BATCH },
  maxQueueDelayUs: { flag: 'max-queue-delay-us', field: 'maxQueueDelayMicroseconds', min: 0, max: 60_000_000, integer: true, unit: 'µs' },
  instances: { flag: 'instances', field: 'instanceGroup.count', min: 1, max: 1024, integer: true },
} as const satisfies Record<string, NumericOption>;

/** `watch`: the single-camera flags and the YAML file's numbers (WatchConfig). */
export const WATCH_RANGES = {
  fps: { flag: 'fps', field: 'cameras[].fps', min: 0.1, max: 60, integer: false, unit: 'frames/s' },
  roiX: { field: 'cameras[].roi.x', min: 0, max: 65535, integer: true, unit: 'px' },
  roiY: { field: 'cameras[].roi.y', min: 0, max: 65535, integer: true, unit: 'px' },
  roiW: { field: 'cameras[].roi.w', min: 1, max: 65535, integer: true, unit: 'px' },
  roiH: { field: 'cameras[].roi.h', min: 1, max: 65535, integer: true, unit: 'px' },
  threshold: { flag: 'threshold', field: 'cameras[].threshold', min: 0, max: Number.MAX_VALUE, integer: false },
  startFrames: { flag: 'start-frames', field: 'events.startFrames', min: 1, max: 1000, integer: true, unit: 'frames' },
  endFrames: { flag: 'end-frames', field: 'events.endFrames', min: 1, max: 10_000, integer: true, unit: 'frames' },
  updateFrames: { flag: 'update-frames', field: 'events.updateFrames', min: 1, max: 100_000, integer: true, unit: 'frames' },
  minScore: { flag: 'min-score', field: 'events.minScore', min: 0, max: 1, integer: false },
  snapshotMaxCount: { field: 'snapshots.maxCount', min: 1, max: 1_000_000, integer: true, unit: 'files' },
  snapshotMaxBytes: { field: 'snapshots.maxBytes', min: KiB, max: TiB, integer: true, unit: 'bytes' },
  snapshotMaxAgeSeconds: { field: 'snapshots.maxAgeSeconds', min: 1, max: 31_536_000, integer: false, unit: 's' },
  webhookTimeoutMs: { field: 'sinks.webhook.timeoutMs', min: 100, max: 120_000, integer: true, unit: 'ms' },
  webhookRetries: { field: 'sinks.webhook.retries', min: 0, max: 20, integer: true },
  webhookBackoffMs: { field: 'sinks.webhook.backoffMs', min: 10, max: 60_000, integer: true, unit: 'ms' },
  webhookQueueSize: { field: 'sinks.webhook.queueSize', min: 1, max: 100_000, integer: true, unit: 'messages' },
  mqttQos: { field: 'sinks.mqtt.qos', min: 0, max: 2, integer: true, oneOf: [0, 1, 2] },
  mqttQueueSize: { field: 'sinks.mqtt.queueSize', min: 1, max: 100_000, integer: true, unit: 'messages' },
  mqttReconnectMs: { field: 'sinks.mqtt.reconnectMs', min: 100, max: 300_000, integer: true, unit: 'ms' },
  port: { flag: 'port', field: 'http.port', ...PORT },
  healthPort: { flag: 'health-port', field: 'http.healthPort', ...PORT },
  stallSeconds: { field: 'ffmpeg.stallSeconds', min: 1, max: 3600, integer: false, unit: 's' },
  reconnectMinMs: { field: 'ffmpeg.reconnectMinMs', min: 100, max: 600_000, integer: true, unit: 'ms' },
  reconnectMaxMs: { field: 'ffmpeg.reconnectMaxMs', min: 100, max: 3_600_000, integer: true, unit: 'ms' },
} as const satisfies Record<string, NumericOption>;

/** A browser training checkpoint's loop counters (unpackCheckpoint). */
export const CHECKPOINT_RANGES = {
  epoch: { field: 'state.epoch', min: 0, max: TRAIN_RANGES.epochs.max, integer: true },
  step: { field: 'state.step', min: 0, max: Number.MAX_SAFE_INTEGER, integer: true },
  optGStep: { field: 'state.optGStep', min: 0, max: Number.MAX_SAFE_INTEGER, integer: true },
  optDStep: { field: 'state.optDStep', min: 0, max: Number.MAX_SAFE_INTEGER, integer: true },
} as const satisfies Record<string, NumericOption>;

/**
 * trainInBrowser / selectBrowserBackend. XNNPACK threads on tfjs's threaded WASM build: at most the
 * build's pool of 8 pthread workers (more would start workers while the page's main thread blocks
 * on them). 1 is tfjs's single-threaded build.
 */
export const BROWSER_RANGES = {
  wasmThreads: { field: 'wasmThreads', min: 1, max: 8, integer: true, unit: 'threads' },
} as const satisfies Record<string, NumericOption>;

/** Every command's numeric options (CLI flags and library fields), for docs and tests. */
export const OPTION_RANGES = {
  train: TRAIN_RANGES,
  export: EXPORT_RANGES,
  quantize: QUANTIZE_RANGES,
  score: SCORE_RANGES,
  eval: EVAL_RANGES,
  triton: TRITON_RANGES,
  serve: SERVE_RANGES,
  watch: WATCH_RANGES,
  runtime: RUNTIME_RANGES,
  browser: BROWSER_RANGES,
} as const satisfies Record<string, Record<string, NumericOption>>;

// ---- describing a range ---------------------------------------------------------------------

function formatNumber(n: number): string {
  return Number.isInteger(n) && Math.abs(n) >= 1e21 ? n.toExponential() : String(n);
}

/** 2 GiB, 1 KiB, 1 B, … (the largest power-of-1024 unit that divides it). */
export function formatBytes(n: number): string {
  for (const [unit, scale] of [['TiB', TiB], ['GiB', GiB], ['MiB', MiB], ['KiB', KiB]] as const) {
    if (n >= scale && n % scale === 0) return `${n / scale} ${unit}`;
  }
  return `${n} B`;
}

const bytesUnit = (r: NumericRange) => r.unit === 'bytes';
const unbounded = (r: NumericRange) => r.max === Number.MAX_VALUE;

/** The range in words, for messages: "an integer from 1 to 2147483647 (ms)". */
export function describeRange(r: NumericRange): string {
  if (r.oneOf) return r.oneOf.length === 2 ? `${r.oneOf[0]} or ${r.oneOf[1]}` : `${r.oneOf.slice(0, -1).join(', ')} or ${r.oneOf.at(-1)}`;
  if (bytesUnit(r)) return `a size from ${formatBytes(r.min)} to ${formatBytes(r.max)} (e.g. 10mb, 512kb or a byte count)`;
  const unit = r.unit ? ` (${r.unit})` : '';
  if (unbounded(r)) return r.min === -Number.MAX_VALUE ? 'a finite number' : `a finite number ≥ ${formatNumber(r.min)}${unit}`;
  if (r.minExclusive || r.maxExclusive) {
    return `a number in ${r.minExclusive ? '(' : '['}${formatNumber(r.min)}, ${formatNumber(r.max)}${r.maxExclusive ? ')' : ']'}${unit}`;
  }
  const kind = r.multipleOf ? `a multiple of ${r.multipleOf}` : r.integer ? 'an integer' : 'a number';
  return `${kind} from ${formatNumber(r.min)} to ${formatNumber(r.max)}${unit}`;
}

/** The range for a docs table, without the unit: "integer 1 – 2147483647", "(0, 1)", "1 B – 2 GiB", "1, 3". */
export function rangeDocText(r: NumericRange): string {
  if (r.oneOf) return r.oneOf.join(', ');
  if (bytesUnit(r)) return `${formatBytes(r.min)} – ${formatBytes(r.max)}`;
  if (unbounded(r)) return r.min === -Number.MAX_VALUE ? 'any finite number' : `≥ ${formatNumber(r.min)}`;
  if (r.minExclusive || r.maxExclusive) return `${r.minExclusive ? '(' : '['}${formatNumber(r.min)}, ${formatNumber(r.max)}${r.maxExclusive ? ')' : ']'}`;
  const kind = r.multipleOf ? `multiple of ${r.multipleOf},` : r.integer ? 'integer' : 'number';
  return `${kind} ${formatNumber(r.min)} – ${formatNumber(r.max)}`;
}

/** Whether a number lies in the range (and is an integer, a multiple, one of the values, when the range says so). */
export function inRange(r: NumericRange, n: number): boolean {
  if (!Number.isFinite(n)) return false;
  if (r.integer && !Number.isSafeInteger(n)) return false;
  if (r.oneOf) return r.oneOf.includes(n);
  if (r.multipleOf && n % r.multipleOf !== 0) return false;
  return (r.minExclusive ? n > r.min : n >= r.min) && (r.maxExclusive ? n < r.max : n <= r.max);
}

function show(v: unknown): string {
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 37)}...` : v}'`;
  if (typeof v === 'number') return formatNumber(v);
  if (v === null) return 'null';
  return typeof v === 'object' ? (Array.isArray(v) ? 'a list' : 'an object') : String(v);
}

/** `must be <range>; got <value>`: what is wrong, for a message that names the option its own way (a config file's problem list). */
export function rangeProblem(r: NumericRange, got: unknown): string {
  return `must be ${describeRange(r)}; got ${show(got)}`;
}

/** `<name> must be <range>; got <value>`: the one message every range check gives. */
export function rangeMessage(name: string, r: NumericRange, got: unknown): string {
  return `${name} ${rangeProblem(r, got)}`;
}

type ErrorClass = new (message: string) => Error;

/**
 * The library check: `value` as a number in `range`, else an OptionRangeError (or `Err`) naming
 * `name` (the field as the caller knows it) and the range. Not a number at all is a TypeError.
 */
export function checkRange(range: NumericRange, value: unknown, name: string, Err: ErrorClass = OptionRangeError): number {
  if (typeof value !== 'number') throw new TypeError(rangeMessage(name, range, value));
  if (!inRange(range, value)) throw new Err(rangeMessage(name, range, value));
  return value;
}

/** checkRange for an optional field: undefined passes through. */
export function checkOptionalRange(range: NumericRange, value: unknown, name: string, Err?: ErrorClass): number | undefined {
  return value === undefined ? undefined : checkRange(range, value, name, Err);
}

const SIZE = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|k|mb|mib|m|gb|gib|g|tb|tib|t)?\s*$/i;
const SCALE: Record<string, number> = { b: 1, k: KiB, m: MiB, g: GiB, t: TiB };

/** Bytes from `10mb`, `512KiB`, `1.5g`, `2048` (units are powers of 1024); NaN when it is not a size, a fraction of a byte, or beyond 2^53. */
export function bytesFromText(text: string): number {
  const m = SIZE.exec(text);
  if (!m) return NaN;
  const scale = SCALE[(m[2] ?? 'b').toLowerCase()[0]!]!;
  // 1.5mb is a size; 1.5 bytes is not.
  if (scale === 1 && m[1]!.includes('.')) return NaN;
  const n = Math.floor(Number(m[1]) * scale);
  return Number.isSafeInteger(n) ? n : NaN;
}

const INTEGER = /^\s*[+-]?\d+\s*$/;
const DECIMAL = /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i;

/**
 * The CLI parse: the text of `--<option.flag>` as a number in its range. Integers are decimal
 * digits (Number() would read '0x10' as 16 and '1e3' as 1000); other numbers may use an exponent
 * (2e-4); byte options also take sizes (10mb). Anything else, or out of range, or beyond
 * Number.MAX_SAFE_INTEGER, is an OptionRangeError naming the flag and its range.
 */
export function parseRanged(text: string, option: NumericOption, name = option.flag ? `--${option.flag}` : option.field ?? 'value'): number {
  const n = bytesUnit(option) ? bytesFromText(text)
    : option.integer ? (INTEGER.test(text) ? Number(text) : NaN)
      : DECIMAL.test(text) ? Number(text) : NaN;
  if (!inRange(option, n) || (option.integer && !Number.isSafeInteger(n))) throw new OptionRangeError(rangeMessage(name, option, text));
  return n;
}
