// Minimal onnxruntime-node helpers for export-time checks (parity, calibration).
import * as ort from 'onnxruntime-node';

export type OrtSession = ort.InferenceSession;

export function createCpuSession(bytes: Uint8Array): Promise<OrtSession> {
  return ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
}

/** Runs one float32 input; returns every output as a Float32Array. */
export async function runFloat(session: OrtSession, input: string, data: Float32Array, dims: number[]): Promise<Record<string, Float32Array>> {
  const out = await session.run({ [input]: new ort.Tensor('float32', data, dims) });
  const res: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(out)) {
    res[k] = v.data as Float32Array;
    v.dispose?.();
  }
  return res;
}

export const ortVersion = (): string => ort.env.versions?.node ?? ort.env.versions?.common ?? 'unknown';
