// Times a few training steps of the run's own network on the active tfjs backend, for
// `--backend auto` to choose between a hardware WebGPU adapter and the CPU path: whether a GPU
// wins depends on the card, the network's size and the batch (tfjs's webgpu step is bound by
// kernel dispatches; oneDNN on many cores is not slow), so only a measurement on this machine
// can say. Random data: the step's cost does not depend on the pixels.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../types.js';
import { GanomalyModel } from './model.js';
import { GanomalyStep } from './step.js';

/** Timed steps after the warm-up (a GPU backend compiles its shaders in the first one). */
export const PROBE_STEPS = 3;

/** Median seconds per training step of `model` at `batchSize` on the active backend; frees everything it made. */
export async function timeTrainingStep(model: ModelConfig, batchSize: number, steps = PROBE_STEPS): Promise<number> {
  if (!Number.isInteger(steps) || steps < 1 || steps > 100) throw new RangeError(`probe steps must be an integer in 1..100; got ${steps}`);
  const net = GanomalyModel.create(model, 1);
  const step = new GanomalyStep(net, { adv: 1, con: 50, enc: 1 }, { lr: 2e-4, beta1: 0.5, beta2: 0.999 }, 1);
  const x = tf.randomUniform([batchSize, model.isize, model.isize, model.nc], -1, 1, 'float32', 1) as tf.Tensor4D;
  try {
    await step.run(x);
    const seconds: number[] = [];
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      // run() ends by reading the losses back, so each timing covers the device's whole step.
      await step.run(x);
      seconds.push((performance.now() - t0) / 1000);
    }
    seconds.sort((a, b) => a - b);
    return seconds[Math.floor(seconds.length / 2)]!;
  } finally {
    x.dispose();
    step.dispose();
    net.dispose();
  }
}
