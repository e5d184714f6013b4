// The little a platform must bring so the core can run a detector: an ONNX Runtime session, a way
// to read model files, a hash, and an image decoder. Node and the browser each implement it once
// (src/runtime/node, src/runtime/web), as onnxruntime's js/node and js/web do for js/common.
import type { RawImage } from './pixels.js';

/** An ONNX Runtime execution provider: a name ('cpu', 'cuda', 'webgpu', 'wasm', …) or ORT's option object. */
export type ExecutionProvider = string | { readonly name: string; readonly [option: string]: unknown };

/** Float32 tensor as the core sees it: data plus dims, no runtime-specific class. */
export interface FloatTensor {
  data: Float32Array;
  dims: readonly number[];
}

/** One loaded graph. run() is never called concurrently by the core (see batcher.ts). */
export interface InferenceHandle {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(inputName: string, input: FloatTensor, fetch: readonly string[]): Promise<Record<string, FloatTensor>>;
  release(): Promise<void>;
}

/** Reads the files of one model folder, wherever it lives. */
export interface ModelFiles {
  /** Where the files come from, for messages. */
  readonly location: string;
  /**
   * Resolves to the file's bytes; rejects with ModelNotFoundError when it does not exist, and with
   * InputLimitError when it is bigger than `maxBytes`, is not a regular file, or (a URL) does not
   * arrive in time.
   */
  read(name: string, maxBytes?: number): Promise<Uint8Array>;
}

export interface RuntimePlatform {
  /** 'node' or 'web', for messages. */
  readonly name: string;
  readonly defaultProviders: readonly ExecutionProvider[];
  /** Creates a session on exactly one provider; rejects if that provider cannot be used. */
  createSession(model: Uint8Array, provider: ExecutionProvider): Promise<InferenceHandle>;
  /** Opens a model folder given as a path or URL. */
  openModel(ref: string | URL, options?: { timeoutMs?: number }): ModelFiles;
  sha256(bytes: Uint8Array): Promise<string>;
  /**
   * Turns a platform-specific image input (file path, encoded bytes, ImageBitmap, …) into 8-bit
   * pixels at native size. Raw pixel objects never reach it: the core handles those itself.
   * Rejects with ImageDecodeError.
   */
  decodeImage(input: unknown): Promise<RawImage>;
}

/** Receives the runtime's few warnings (a provider that failed and was skipped). */
export interface Logger {
  warn(message: string): void;
}
