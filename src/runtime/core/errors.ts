// Typed errors of the runtime. Every failure a user can cause (wrong path, edited manifest,
// corrupted download, bad image) surfaces as one of these, with a message that says what to do.
// Bad arguments are TypeError / RangeError, as in ONNX Runtime; everything else is a GanomalyError
// whose `code` is stable across releases (programs switch on the code, people read the message).

/**
 * The base of every error ganomaly-edge throws on purpose (runtime, training, export, eval, serve,
 * CLI). `code` is a stable snake_case identifier; `name` is the class name.
 */
export abstract class GanomalyError extends Error {
  abstract readonly code: string;
}

/** The model folder, URL or one of its files does not exist or cannot be fetched. */
export class ModelNotFoundError extends GanomalyError {
  override name = 'ModelNotFoundError';
  readonly code = 'model_not_found';
}

/** manifest.json is not JSON, lacks a field, or has a schemaVersion this runtime cannot read. */
export class ManifestError extends GanomalyError {
  override name = 'ManifestError';
  readonly code = 'manifest_invalid';
}

/** A model file's size or sha256 differs from the manifest (truncated or altered download). */
export class IntegrityError extends GanomalyError {
  override name = 'IntegrityError';
  readonly code = 'integrity_mismatch';
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
export class ModelLoadError extends GanomalyError {
  override name = 'ModelLoadError';
  readonly code = 'model_load_failed';
}

/**
 * The graph is not one the exporter writes: an operator, domain, attribute, initializer, input or
 * output outside what `ganomaly export` emits (any precision), or a shape, size or cost past the
 * runtime's bounds. Checked before ONNX Runtime sees the bytes: a small graph with a correct
 * sha256 can still ask for gigabytes or minutes of work.
 */
export class UntrustedGraphError extends GanomalyError {
  override name = 'UntrustedGraphError';
  readonly code = 'model_untrusted_graph';
  constructor(
    /** The graph file (detector.onnx or a variant's). */
    readonly file: string,
    /** The first offending node, tensor or field ('' for the model as a whole). */
    readonly subject: string,
    message: string,
  ) {
    super(message);
  }
}

/** Every requested execution provider failed; `failures` says why each one did. */
export class ProviderError extends GanomalyError {
  override name = 'ProviderError';
  readonly code = 'no_execution_provider';
  constructor(
    readonly failures: { provider: string; reason: string }[],
    message: string,
  ) {
    super(message);
  }
}

/** An image input could not be read or decoded, or is not a kind of input this platform accepts. */
export class ImageDecodeError extends GanomalyError {
  override name = 'ImageDecodeError';
  readonly code = 'image_decode_failed';
  constructor(
    message: string,
    /** Position of the offending image in the call's input list. */
    readonly index?: number,
  ) {
    super(message);
  }
}

/** Raw pixels whose buffer does not describe a valid 8-bit image (size mismatch, float data, bad dims). */
export class InvalidImageError extends GanomalyError {
  override name = 'InvalidImageError';
  readonly code = 'invalid_image';
  constructor(
    message: string,
    readonly index?: number,
  ) {
    super(message);
  }
}

/** Raw pixels with a channel count that cannot be converted to the model's grey or RGB input. */
export class ChannelMismatchError extends GanomalyError {
  override name = 'ChannelMismatchError';
  readonly code = 'channel_mismatch';
  constructor(
    message: string,
    readonly channels: number,
    readonly index?: number,
  ) {
    super(message);
  }
}

/** The detector was used after dispose(). */
export class DisposedError extends GanomalyError {
  override name = 'DisposedError';
  readonly code = 'disposed';
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
export class MissingDependencyError extends GanomalyError {
  override name = 'MissingDependencyError';
  readonly code = 'missing_dependency';
  constructor(
    /** The npm package to install. */
    readonly packageName: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The package may be installed, but the import specifier the runtime asked for did not resolve to a
 * module: a page's import map that lacks it, a bundler alias that maps it to nothing (`false`, an
 * empty module), or an installed version that does not export that subpath. Installing the package
 * again does not help; mapping `specifier` does.
 */
export class UnresolvedModuleError extends GanomalyError {
  override name = 'UnresolvedModuleError';
  readonly code = 'module_unresolved';
  constructor(
    /** The npm package the specifier belongs to. */
    readonly packageName: string,
    /** The specifier to map, exactly as the runtime imports it (e.g. 'onnxruntime-web/wasm'). */
    readonly specifier: string,
    message: string,
  ) {
    super(message);
  }
}

// Browsers resolve bare specifiers only through an import map, whether or not the package sits in
// node_modules on the server; each engine words the failure differently (Chromium, Firefox, Safari).
// Vite's resolver says "Missing … specifier in … package" for a subpath the installed version lacks.
const SPECIFIER_UNMAPPED = /failed to resolve module specifier|was a bare specifier, but was not remapped|does not resolve to a valid url|missing ".*" specifier in ".*" package/i;

/**
 * Why an import failed, when it failed for want of the module: 'unresolved' when the specifier has
 * no mapping (a browser's bare-specifier error, or Node's ERR_PACKAGE_PATH_NOT_EXPORTED and Vite's
 * "Missing … specifier": the package is there, its version lacks the subpath); 'not-installed' when the package itself is
 * absent (Node's "Cannot find package", a bundle's "Cannot find module" stub, emitted when the
 * bundler found nothing to put there); null for any other failure (a syntax error, a network error).
 */
export function moduleNotFoundKind(e: unknown): 'unresolved' | 'not-installed' | null {
  const code = (e as { code?: unknown } | null)?.code;
  const message = errorMessage(e);
  if (code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' || SPECIFIER_UNMAPPED.test(message)) return 'unresolved';
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || /cannot find (module|package)/i.test(message)) return 'not-installed';
  return null;
}

/** True when `e` says the package is not installed (Node's and bundlers' wordings). */
export function isModuleNotFound(e: unknown): boolean {
  return moduleNotFoundKind(e) === 'not-installed';
}

/** The model produced a score that is NaN or infinite: a broken model or preprocessing, never a result. */
export class NonFiniteScoreError extends GanomalyError {
  override name = 'NonFiniteScoreError';
  readonly code = 'non_finite_score';
}

/**
 * A model file or image would be read past a size cap, is not a regular file (FIFO, device), or
 * its URL did not answer in time.
 */
export class InputLimitError extends GanomalyError {
  override name = 'InputLimitError';
  readonly code = 'input_limit';
  constructor(
    message: string,
    /** The input's size in bytes, when it is known to be over the cap. */
    readonly size?: number,
  ) {
    super(message);
  }
}
