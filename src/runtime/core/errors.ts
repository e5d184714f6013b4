// Typed errors of the runtime. Every failure a user can cause (wrong path, edited manifest,
// corrupted download, bad image) surfaces as one of these, with a message that says what to do.

/** The model folder, URL or one of its files does not exist or cannot be fetched. */
export class ModelNotFoundError extends Error {
  override name = 'ModelNotFoundError';
}

/** manifest.json is not JSON, lacks a field, or has a schemaVersion this runtime cannot read. */
export class ManifestError extends Error {
  override name = 'ManifestError';
}

/** A model file's size or sha256 differs from the manifest (truncated or altered download). */
export class IntegrityError extends Error {
  override name = 'IntegrityError';
  constructor(
    readonly file: string,
    readonly expected: string,
    readonly actual: string,
    message: string,
  ) {
    super(message);
  }
}

/** ONNX Runtime could not load the graph, or the graph lacks the inputs/outputs the manifest names. */
export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
}

/** Every requested execution provider failed; `failures` says why each one did. */
export class ProviderError extends Error {
  override name = 'ProviderError';
  constructor(
    readonly failures: { provider: string; reason: string }[],
    message: string,
  ) {
    super(message);
  }
}

/** An image input could not be read or decoded, or is not a kind of input this platform accepts. */
export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
  constructor(
    message: string,
    /** Position of the offending image in the call's input list. */
    readonly index?: number,
  ) {
    super(message);
  }
}

/** Raw pixels whose buffer does not describe a valid 8-bit image (size mismatch, float data, bad dims). */
export class InvalidImageError extends Error {
  override name = 'InvalidImageError';
  constructor(
    message: string,
    readonly index?: number,
  ) {
    super(message);
  }
}

/** Raw pixels with a channel count that cannot be converted to the model's grey or RGB input. */
export class ChannelMismatchError extends Error {
  override name = 'ChannelMismatchError';
  constructor(
    message: string,
    readonly channels: number,
    readonly index?: number,
  ) {
    super(message);
  }
}

/** The detector was used after dispose(). */
export class DisposedError extends Error {
  override name = 'DisposedError';
}

/** What a value is, for "got …" in messages: 'null', a primitive's typeof, or an object's class name. */
export function typeName(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x !== 'object') return typeof x;
  return (x as object).constructor?.name ?? 'object';
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * A package the runtime loads on demand is not installed: onnxruntime-node or sharp in Node,
 * onnxruntime-web in a browser. They are optional peers, so each app installs only what it uses.
 */
export class MissingDependencyError extends Error {
  override name = 'MissingDependencyError';
  constructor(
    /** The npm package to install. */
    readonly packageName: string,
    message: string,
  ) {
    super(message);
  }
}

/** True when `e` says a module could not be found (Node's and bundlers' wordings). */
export function isModuleNotFound(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return true;
  return /cannot find (module|package)|failed to resolve module/i.test(errorMessage(e));
}

/** The model produced a score that is NaN or infinite: a broken model or preprocessing, never a result. */
export class NonFiniteScoreError extends Error {
  override name = 'NonFiniteScoreError';
}

/**
 * A model file or image would be read past a size cap, is not a regular file (FIFO, device), or
 * its URL did not answer in time.
 */
export class InputLimitError extends Error {
  override name = 'InputLimitError';
  constructor(
    message: string,
    /** The input's size in bytes, when it is known to be over the cap. */
    readonly size?: number,
  ) {
    super(message);
  }
}
