// Construction paths free their temporaries: create → steps → dispose, and fromWeights →
// setWeights → optimizer setState → dispose, repeated, return to the baseline tensor count (and,
// on wasm, to the same number of live buffers and bytes; the wasm heap itself does not grow).
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../src/train/index.js';
import { GanomalyModel } from '../../../src/train/model.js';
import { GanomalyStep } from '../../../src/train/step.js';
import type { ModelConfig } from '../../../src/types.js';

const CFG: ModelConfig = { isize: 16, nc: 1, nz: 8, ngf: 4, ndf: 4, scoreKind: 'l2' };
const OPT = { lr: 1e-3, beta1: 0.5, beta2: 0.999 };

async function round(): Promise<void> {
  const m = GanomalyModel.create(CFG, 3);
  const step = new GanomalyStep(m, { adv: 1, con: 50, enc: 1 }, OPT, 3);
  const x = tf.randomUniform([2, 16, 16, 1], -1, 1, 'float32', 1) as tf.Tensor4D;
  await step.run(x);
  await step.run(x);
  // The resume / export-parity paths: weights and optimizer state loaded into fresh objects.
  const weights = await m.readWeights();
  const state = await step.optG.readState('G');
  const m2 = GanomalyModel.fromWeights(CFG, weights);
  m2.setWeights(weights);
  const step2 = new GanomalyStep(m2, { adv: 1, con: 50, enc: 1 }, OPT, 3);
  step2.optG.setState('G', state, 2);
  await step2.run(x);
  x.dispose();
  for (const o of [step, m, step2, m2]) o.dispose();
}

interface Counts { tensors: number; bytes: number; dataIds?: number; heap?: number }

function counts(): Counts {
  const mem = tf.memory();
  const c: Counts = { tensors: mem.numTensors, bytes: mem.numBytes };
  if (tf.getBackend() === 'wasm') {
    const b = tf.backend() as BackendWasm;
    c.dataIds = b.numDataIds();
    c.heap = (b as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
  }
  return c;
}

describe('construction paths leak nothing', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`${backend}: create → 2 steps → fromWeights/setWeights/setState → dispose, ×4, returns to the baseline`, async () => {
      if (backend === 'wasm') expect((await selectBackend('wasm')).name).toBe('wasm');
      else await tf.setBackend('cpu');
      await round(); // warm-up: kernels, the wasm heap's first growth
      const base = counts();
      const after: Counts[] = [];
      for (let i = 0; i < 4; i++) {
        await round();
        after.push(counts());
      }
      for (const c of after) {
        expect(c.tensors, 'tensors').toBe(base.tensors);
        expect(c.bytes, 'bytes').toBe(base.bytes);
        if (backend === 'wasm') {
          expect(c.dataIds, 'wasm buffers').toBe(base.dataIds);
          expect(c.heap, 'wasm heap bytes').toBe(base.heap);
        }
      }
    }, 120_000);
  }
});
