// How export-time checks (parity, calibration, variants) run a graph: the runtime's own ORT
// adapter (createOrtHandle, the same session options the runtime scores with) over onnxruntime-node
// (ortNode.ts, the CLI) or onnxruntime-web (src/browser, a page), so calibration equals what the
// runtime computes and a browser bundle never references onnxruntime-node.
import { createOrtHandle, type InferenceHandle, type OrtModuleLike } from '@ganomaly-edge/runtime';

/** An open graph: the runtime's InferenceHandle. */
export type RunnerSession = InferenceHandle;

export interface OrtRunner {
  /** Where the checks ran, for the manifest's tools field (e.g. 'onnxruntime-node 1.30.0'). */
  readonly name: string;
  create(bytes: Uint8Array): Promise<RunnerSession>;
  /** Runs one float32 input; returns every output of the graph as a Float32Array. */
  run(session: RunnerSession, input: string, data: Float32Array, dims: number[]): Promise<Record<string, Float32Array>>;
}

/** A runner over an onnxruntime module (node or web) and one execution provider. */
export function ortRunner(ort: OrtModuleLike, provider: string, name: string): OrtRunner {
  return {
    name,
    create: (bytes) => createOrtHandle(ort, bytes, provider),
    async run(session, input, data, dims) {
      const out = await session.run(input, { data, dims }, session.outputNames);
      return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data]));
    },
  };
}
