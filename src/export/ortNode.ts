// The Node runner for export-time checks (parity, calibration): onnxruntime-node on the CPU. It is
// an optional dependency of the toolkit (npm drops it when its install script cannot download the
// CUDA provider), so it is loaded on first use and its absence is an ExportError that says the fix.
import { loadOrtNode } from '@ganomaly-edge/runtime/node';
import { ExportError } from './errors.js';
import { ortRunner, type OrtRunner } from './ort-runner.js';

let runner: Promise<OrtRunner> | undefined;

function loadRunner(): Promise<OrtRunner> {
  // The runtime's loader: one import of onnxruntime-node per process for scoring and export.
  runner ??= loadOrtNode().then(
    (ort) => {
      return ortRunner(ort, 'cpu', `onnxruntime-node ${ort.env.versions?.node ?? ort.env.versions?.common ?? ''}`.trim());
    },
    (e: unknown) => {
      runner = undefined;
      throw new ExportError(
        `export checks every graph in onnxruntime-node, which is not installed or failed to load (${(e as Error)?.message?.split('\n')[0] ?? e}): ` +
          'npm install onnxruntime-node --onnxruntime-node-install=skip (skip = no CUDA provider download; leave it out on a GPU machine with internet)',
      );
    },
  );
  return runner;
}

/** onnxruntime-node (CPU) as an OrtRunner; loads the package on first use. */
export const nodeOrt: OrtRunner = {
  name: 'onnxruntime-node',
  create: async (bytes) => (await loadRunner()).create(bytes),
  run: async (session, input, data, dims) => (await loadRunner()).run(session, input, data, dims),
};

export async function ortVersion(): Promise<string> {
  return (await loadRunner()).name.replace(/^onnxruntime-node ?/, '') || 'unknown';
}
