// How export-time checks (parity, calibration, variants) run a graph: one small interface over
// onnxruntime-node (ortNode.ts, the CLI) and onnxruntime-web (src/browser, a page), so the same
// checks run in both and a browser bundle never references onnxruntime-node.
export interface RunnerSession {
  release(): Promise<void>;
}

export interface OrtRunner {
  /** Where the checks ran, for the manifest's tools field (e.g. 'onnxruntime-node 1.30.0'). */
  readonly name: string;
  create(bytes: Uint8Array): Promise<RunnerSession>;
  /** Runs one float32 input; returns every output as a Float32Array. */
  run(session: RunnerSession, input: string, data: Float32Array, dims: number[]): Promise<Record<string, Float32Array>>;
}

interface OrtModule {
  InferenceSession: { create(bytes: Uint8Array, options: Record<string, unknown>): Promise<unknown> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
}

interface OrtSession extends RunnerSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown; dispose?: () => void }>>;
}

/** A runner over an onnxruntime module (node or web) and one execution provider. */
export function ortRunner(ort: OrtModule, provider: string, name: string, extra: Record<string, unknown> = {}): OrtRunner {
  return {
    name,
    async create(bytes) {
      return (await ort.InferenceSession.create(bytes, { executionProviders: [provider], graphOptimizationLevel: 'all', ...extra })) as OrtSession;
    },
    async run(session, input, data, dims) {
      const out = await (session as OrtSession).run({ [input]: new ort.Tensor('float32', data, dims) });
      const res: Record<string, Float32Array> = {};
      for (const [k, v] of Object.entries(out)) {
        res[k] = v.data as Float32Array;
        v.dispose?.();
      }
      return res;
    },
  };
}
