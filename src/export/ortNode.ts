// Minimal onnxruntime-node helpers for export-time checks (parity, calibration). onnxruntime-node is
// an optional dependency of the toolkit (npm drops it when its install script cannot download the
// CUDA provider), so it is loaded on first use and its absence is an ExportError that says the fix.
import type * as Ort from 'onnxruntime-node';
import { ORT_CONFIG_ENTRIES } from '@ganomaly-edge/runtime/node';
import { ExportError } from './errors.js';

export type OrtSession = Ort.InferenceSession;

let ortModule: Promise<typeof Ort> | undefined;

function loadOrt(): Promise<typeof Ort> {
  ortModule ??= import('onnxruntime-node').then(
    (m) => ((m as { default?: typeof Ort }).default ?? m) as typeof Ort,
    (e: unknown) => {
      ortModule = undefined;
      throw new ExportError(
        `export checks every graph in onnxruntime-node, which is not installed or failed to load (${(e as Error)?.message?.split('\n')[0] ?? e}): ` +
          'npm install onnxruntime-node --onnxruntime-node-install=skip (skip = no CUDA provider download; leave it out on a GPU machine with internet)',
      );
    },
  );
  return ortModule;
}

export async function createCpuSession(bytes: Uint8Array): Promise<OrtSession> {
  const ort = await loadOrt();
  // Same config entries as the runtime's sessions, so calibration equals what the runtime computes.
  return ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', extra: ORT_CONFIG_ENTRIES });
}

/** Runs one float32 input; returns every output as a Float32Array. */
export async function runFloat(session: OrtSession, input: string, data: Float32Array, dims: number[]): Promise<Record<string, Float32Array>> {
  const ort = await loadOrt();
  const out = await session.run({ [input]: new ort.Tensor('float32', data, dims) });
  const res: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(out)) {
    res[k] = v.data as Float32Array;
    v.dispose?.();
  }
  return res;
}

export async function ortVersion(): Promise<string> {
  const ort = await loadOrt();
  return ort.env.versions?.node ?? ort.env.versions?.common ?? 'unknown';
}
