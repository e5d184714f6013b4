// Reads manifest.json and checks every field the runtime relies on, reporting all problems at
// once. Fields the runtime does not use (training, split, tools, parity) are passed through
// unchecked so that exporters may add to them without breaking older runtimes.
import { MANIFEST_SCHEMA_VERSION, type Manifest, type Precision } from '../../types.js';
import { ManifestError } from './errors.js';
import { tilingProblems } from './tiling.js';

export const SUPPORTED_SCHEMA_VERSIONS: readonly number[] = [MANIFEST_SCHEMA_VERSION];

/** The graph the runtime runs, and the names of its tensors (see `ganomaly export`). */
export const DETECTOR_FILE = 'detector.onnx';
export const MANIFEST_FILE = 'manifest.json';
export const REDUCED_PRECISIONS = ['fp16', 'int8'] as const;

/**
 * The graph file, calibration and threshold of one precision: fp32 is detector.onnx and the
 * manifest's top-level fields; fp16/int8 come from manifest.variants. Throws ManifestError when
 * the model was exported without that variant.
 */
export function selectPrecision(m: Manifest, precision: Precision, origin = MANIFEST_FILE): { file: string; manifest: Manifest } {
  if (precision === 'fp32') return { file: DETECTOR_FILE, manifest: m };
  if (!(REDUCED_PRECISIONS as readonly string[]).includes(precision)) {
    throw new TypeError(`precision must be 'fp32', 'fp16' or 'int8'; got ${JSON.stringify(precision)}`);
  }
  const v = m.variants?.[precision];
  if (!v) {
    const have = ['fp32', ...Object.keys(m.variants ?? {})].join(', ');
    throw new ManifestError(`${origin}: this model has no ${precision} variant (it has ${have}); export it with --precision ${precision} or run \`ganomaly quantize\``);
  }
  // Everything downstream (normalisation, threshold) reads the variant's own statistics.
  return { file: v.file, manifest: { ...m, calibration: v.calibration, threshold: v.threshold } };
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isPositiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;

class Problems {
  readonly list: string[] = [];
  add(msg: string): void {
    this.list.push(msg);
  }
  /** Returns the object at `path` (dot-separated, for messages) or records that it is missing. */
  object(parent: Json, key: string, path: string): Json | undefined {
    const v = parent[key];
    if (isObject(v)) return v;
    this.add(v === undefined ? `missing ${path}` : `${path} must be an object`);
    return undefined;
  }
  number(parent: Json, key: string, path: string, check = isFiniteNumber, what = 'a finite number'): void {
    const v = parent[key];
    if (v === undefined) this.add(`missing ${path}`);
    else if (!check(v)) this.add(`${path} must be ${what}; got ${JSON.stringify(v)}`);
  }
  string(parent: Json, key: string, path: string): void {
    const v = parent[key];
    if (v === undefined) this.add(`missing ${path}`);
    else if (typeof v !== 'string') this.add(`${path} must be a string`);
  }
}

/** Deepest nesting a manifest may have; ours is 4 levels deep, so this only refuses abuse. */
export const MAX_MANIFEST_DEPTH = 32;

/**
 * How deep `text` nests arrays and objects, stopping as soon as it passes `limit` (strings are
 * skipped, escapes included). One pass over the characters, no allocation: a 4 MiB file of
 * brackets is refused in milliseconds instead of being parsed (~0.6 s, ~200 MB in V8).
 */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** Parses manifest text (or an already-parsed object) and validates it. Throws ManifestError. */
export function parseManifest(source: string | unknown, origin = MANIFEST_FILE): Manifest {
  let raw: unknown = source;
  if (typeof source === 'string') {
    if (jsonDepthExceeds(source, MAX_MANIFEST_DEPTH)) throw new ManifestError(`${origin} nests arrays or objects more than ${MAX_MANIFEST_DEPTH} levels deep; a manifest is at most a few`);
    try {
      raw = JSON.parse(source);
    } catch (e) {
      throw new ManifestError(`${origin} is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (!isObject(raw)) throw new ManifestError(`${origin} must hold a JSON object`);

  const version = raw.schemaVersion;
  if (version === undefined) throw new ManifestError(`${origin}: missing schemaVersion (supported: ${SUPPORTED_SCHEMA_VERSIONS.join(', ')})`);
  if (!SUPPORTED_SCHEMA_VERSIONS.includes(version as number)) {
    throw new ManifestError(
      `${origin}: schemaVersion ${JSON.stringify(version)} is not supported by this runtime (supported: ${SUPPORTED_SCHEMA_VERSIONS.join(', ')}); ` +
        'use a ganomaly-edge version that matches the exporter',
    );
  }

  const p = new Problems();
  checkModel(raw, p);
  checkInput(raw, p);
  checkPreprocessing(raw, p);
  checkScoring(raw, p);
  checkFiles(raw, p);
  checkVariants(raw, p);
  // Optional: manifests from before patch models have none and score whole images.
  if (raw.tiling !== undefined) for (const problem of tilingProblems(raw.tiling)) p.add(problem);
  if (p.list.length === 0) checkConsistency(raw as unknown as Manifest, p);
  if (p.list.length > 0) throw new ManifestError(`${origin} is invalid: ${p.list.join('; ')}`);
  return raw as unknown as Manifest;
}

function checkModel(m: Json, p: Problems): void {
  const model = p.object(m, 'model', 'model');
  if (!model) return;
  p.number(model, 'isize', 'model.isize', isPositiveInt, 'a positive integer');
  p.number(model, 'nz', 'model.nz', isPositiveInt, 'a positive integer');
  if (model.nc !== 1 && model.nc !== 3) p.add(`model.nc must be 1 or 3; got ${JSON.stringify(model.nc)}`);
}

function checkInput(m: Json, p: Problems): void {
  const input = p.object(m, 'input', 'input');
  if (!input) return;
  p.string(input, 'name', 'input.name');
  const shape = input.shape;
  const okShape =
    Array.isArray(shape) &&
    shape.length === 4 &&
    (shape[0] === 'N' || isPositiveInt(shape[0])) &&
    shape.slice(1).every(isPositiveInt);
  if (!okShape) p.add(`input.shape must be [N|n, channels, height, width]; got ${JSON.stringify(shape)}`);
  if (input.dtype !== 'float32') p.add(`input.dtype must be 'float32'; got ${JSON.stringify(input.dtype)}`);
}

function checkPreprocessing(m: Json, p: Problems): void {
  const pre = p.object(m, 'preprocessing', 'preprocessing');
  if (!pre) return;
  if (pre.channelOrder !== 'gray' && pre.channelOrder !== 'rgb') {
    p.add(`preprocessing.channelOrder must be 'gray' or 'rgb'; got ${JSON.stringify(pre.channelOrder)}`);
  }
  if (pre.layout !== 'NCHW') p.add(`preprocessing.layout must be 'NCHW'; got ${JSON.stringify(pre.layout)}`);
  const resize = p.object(pre, 'resize', 'preprocessing.resize');
  if (resize) {
    p.number(resize, 'width', 'preprocessing.resize.width', isPositiveInt, 'a positive integer');
    p.number(resize, 'height', 'preprocessing.resize.height', isPositiveInt, 'a positive integer');
    if (resize.fit !== 'fill') p.add(`preprocessing.resize.fit must be 'fill'; got ${JSON.stringify(resize.fit)}`);
    if (resize.kernel !== 'bilinear') p.add(`preprocessing.resize.kernel must be 'bilinear'; got ${JSON.stringify(resize.kernel)}`);
  }
  const nc = pre.channelOrder === 'rgb' ? 3 : 1;
  for (const key of ['mean', 'std'] as const) {
    const v = pre[key];
    if (!Array.isArray(v) || v.length !== nc || !v.every(isFiniteNumber)) {
      p.add(`preprocessing.${key} must be ${nc} finite number(s); got ${JSON.stringify(v)}`);
    } else if (key === 'std' && v.some((s) => s <= 0)) {
      p.add(`preprocessing.std must be positive; got ${JSON.stringify(v)}`);
    }
  }
  checkPreprocessingRange(pre, p);
}

/** Pixels 0 and 255 must map to finite float32 model inputs (a std of 1e-300 makes them ±Inf, scores NaN). */
function checkPreprocessingRange(pre: Json, p: Problems): void {
  const { mean, std } = pre;
  if (!Array.isArray(mean) || !Array.isArray(std) || mean.length !== std.length) return;
  for (let i = 0; i < std.length; i++) {
    const m = mean[i], s = std[i];
    if (!isFiniteNumber(m) || !isFiniteNumber(s) || s <= 0) continue;
    const extremes = [(0 - m) / s, (1 - m) / s].map((x) => Math.fround(x));
    if (!extremes.every((x) => Number.isFinite(x) && Math.abs(x) <= MAX_INPUT_MAGNITUDE)) {
      p.add(`preprocessing mean ${m} / std ${s} (channel ${i}) maps pixels outside ±${MAX_INPUT_MAGNITUDE} (to ${extremes.join(', ')}); the scores would not be finite`);
    }
  }
}

/** Largest |model input| preprocessing may produce; real models stay within a few units. */
const MAX_INPUT_MAGNITUDE = 1e6;

function checkScoring(m: Json, p: Problems): void {
  const cal = p.object(m, 'calibration', 'calibration');
  if (cal) {
    p.number(cal, 'min', 'calibration.min');
    p.number(cal, 'max', 'calibration.max');
    if (isFiniteNumber(cal.min) && isFiniteNumber(cal.max) && cal.max < cal.min) {
      p.add(`calibration.max (${cal.max}) is below calibration.min (${cal.min})`);
    }
  }
  const threshold = p.object(m, 'threshold', 'threshold');
  if (threshold) p.number(threshold, 'value', 'threshold.value');
}

function checkFiles(m: Json, p: Problems): void {
  const files = p.object(m, 'files', 'files');
  if (!files) return;
  checkGraphEntry(files, DETECTOR_FILE, p);
}

/** Reduced-precision detectors (optional): each names a file listed in `files` and its own calibration. */
function checkVariants(m: Json, p: Problems): void {
  const variants = m.variants;
  if (variants === undefined) return;
  if (!isObject(variants)) return p.add('variants must be an object');
  const files = isObject(m.files) ? m.files : {};
  for (const [name, v] of Object.entries(variants)) {
    const path = `variants.${name}`;
    if (!(REDUCED_PRECISIONS as readonly string[]).includes(name)) {
      p.add(`${path}: unknown precision (known: ${REDUCED_PRECISIONS.join(', ')})`);
      continue;
    }
    if (!isObject(v)) {
      p.add(`${path} must be an object`);
      continue;
    }
    if (typeof v.file !== 'string' || v.file === DETECTOR_FILE || !/^[\w.-]+\.onnx$/.test(v.file)) {
      p.add(`${path}.file must name an .onnx file in the model folder other than ${DETECTOR_FILE}; got ${JSON.stringify(v.file)}`);
      continue;
    }
    if (!isObject(files[v.file])) p.add(`${path}.file '${v.file}' is not listed in files`);
    else checkGraphEntry(files, v.file, p);
    const cal = p.object(v, 'calibration', `${path}.calibration`);
    if (cal) {
      p.number(cal, 'min', `${path}.calibration.min`);
      p.number(cal, 'max', `${path}.calibration.max`);
      if (isFiniteNumber(cal.min) && isFiniteNumber(cal.max) && cal.max < cal.min) p.add(`${path}.calibration.max is below its min`);
    }
    const threshold = p.object(v, 'threshold', `${path}.threshold`);
    if (threshold) p.number(threshold, 'value', `${path}.threshold.value`);
  }
}

function checkGraphEntry(files: Json, file: string, p: Problems): void {
  const det = p.object(files, file, `files["${file}"]`);
  if (!det) return;
  const path = `files["${file}"]`;
  if (typeof det.sha256 !== 'string' || !/^[0-9a-f]{64}$/i.test(det.sha256)) {
    p.add(`${path}.sha256 must be 64 hex digits; got ${JSON.stringify(det.sha256)}`);
  }
  p.number(det, 'bytes', `${path}.bytes`, isPositiveInt, 'a positive integer');
  for (const key of ['inputs', 'outputs'] as const) {
    const v = det[key];
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) p.add(`${path}.${key} must be a list of names`);
  }
  if (Array.isArray(det.outputs) && !det.outputs.includes('score')) p.add(`${path}.outputs must include 'score'`);
}

/** Cross-field checks, run once every field has the right type. */
function checkConsistency(m: Manifest, p: Problems): void {
  const { model, preprocessing: pre, input } = m;
  const nc = pre.channelOrder === 'rgb' ? 3 : 1;
  if (nc !== model.nc) p.add(`preprocessing.channelOrder '${pre.channelOrder}' does not match model.nc ${model.nc}`);
  if (pre.resize.width !== model.isize || pre.resize.height !== model.isize) {
    p.add(`preprocessing.resize ${pre.resize.width}x${pre.resize.height} does not match model.isize ${model.isize}`);
  }
  const [, c, h, w] = input.shape;
  if (c !== model.nc || h !== model.isize || w !== model.isize) {
    p.add(`input.shape ${JSON.stringify(input.shape)} does not match model (nc ${model.nc}, isize ${model.isize})`);
  }
  if (m.tiling && (m.tiling.tile !== h || m.tiling.tile !== w)) {
    p.add(`tiling.tile ${m.tiling.tile} does not match the graph's ${h}x${w} input: tiles are scored as they are cut, never resized`);
  }
  if (!m.files[DETECTOR_FILE]!.inputs.includes(input.name)) {
    p.add(`files["${DETECTOR_FILE}"].inputs does not list input.name '${input.name}'`);
  }
}
