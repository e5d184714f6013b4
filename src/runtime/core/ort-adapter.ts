// Wraps an onnxruntime-node or onnxruntime-web module (same onnxruntime-common API) as an
// InferenceHandle. Typed structurally so the core imports neither package.
import { ModelLoadError } from './errors.js';
import type { ExecutionProvider, FloatTensor, InferenceHandle } from './platform.js';

interface OrtTensorLike {
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly type: string;
}

interface OrtSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, unknown>, fetches: readonly string[]): Promise<Record<string, OrtTensorLike>>;
  release(): Promise<void>;
}

export interface OrtModuleLike {
  InferenceSession: { create(model: Uint8Array, options: Record<string, unknown>): Promise<unknown> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
}

/** ORT severity 3 = errors only: its warnings about node placement are noise for users. */
const SESSION_LOG_SEVERITY = 3;

/**
 * ORT keeps DequantizeLinear nodes of a QDQ graph at run time so that it can fuse them into int8
 * kernels; the INT8 variant is weight-only (float32 compute), so without this config entry every
 * run re-dequantizes all kernels (CPU, batch 1: 1.9–5.8 ms against 1.0–1.3 ms for float32). With it
 * the kernels fold into float32 constants once, at session creation. No effect on other graphs.
 */
export const ORT_CONFIG_ENTRIES = { session: { disable_quant_qdq: '1' } } as const;

type Nested = { [key: string]: string | Nested };

/** `over` merged into `base` key by key (ORT's config entries are nested objects of strings). */
function mergeEntries(base: Nested, over: unknown): Nested {
  if (over === null || typeof over !== 'object' || Array.isArray(over)) return base;
  const out: Nested = { ...base };
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) {
    const b = out[k];
    out[k] = v !== null && typeof v === 'object' && typeof b === 'object' ? mergeEntries(b, v) : (v as string | Nested);
  }
  return out;
}

/**
 * The options every session is created with, in-process or in a worker (node/worker-session.ts).
 * A caller's `extra` config entries are added to ORT_CONFIG_ENTRIES (theirs win per key), not
 * put in their place.
 */
export function ortSessionOptions(provider: ExecutionProvider, extraOptions: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    executionProviders: [provider], graphOptimizationLevel: 'all', logSeverityLevel: SESSION_LOG_SEVERITY,
    ...extraOptions,
    extra: mergeEntries(ORT_CONFIG_ENTRIES as unknown as Nested, extraOptions.extra),
  };
}

export async function createOrtHandle(
  ort: OrtModuleLike,
  model: Uint8Array,
  provider: ExecutionProvider,
  extraOptions: Record<string, unknown> = {},
): Promise<InferenceHandle> {
  const session = (await ort.InferenceSession.create(model, ortSessionOptions(provider, extraOptions))) as OrtSessionLike;
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(inputName, input, fetch) {
      const feeds = { [inputName]: new ort.Tensor('float32', input.data, input.dims) };
      const out = await session.run(feeds, fetch);
      const result: Record<string, FloatTensor> = {};
      for (const name of fetch) {
        const t = out[name];
        if (!t || !(t.data instanceof Float32Array)) {
          throw new ModelLoadError(`output '${name}' is ${t ? `of type ${t.type}` : 'missing'}; expected float32`);
        }
        result[name] = { data: t.data, dims: t.dims };
      }
      return result;
    },
    release: () => session.release(),
  };
}
