// `--backend auto`'s probe: a few training steps of the run's network timed on each backend that
// starts, the fastest kept active. No GPU here, so the race runs on the two CPU backends; the
// choice must follow the measured timings whatever they are on this machine.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { selectBackend, selectFastestBackend } from '../../../src/backend/index.js';
import { timeTrainingStep } from '../../../src/train/backend-probe.js';
import type { ModelConfig } from '../../../src/types.js';

const TINY: ModelConfig = { isize: 16, nc: 1, nz: 8, ngf: 4, ndf: 4, scoreKind: 'l2' };

describe('the backend probe', () => {
  it('keeps the backend with the fastest measured step active, lists the other with both timings, frees its tensors', async () => {
    await tf.setBackend('cpu');
    const before = tf.memory().numTensors;
    const sel = await selectFastestBackend(['cpu', 'wasm'], () => timeTrainingStep(TINY, 4, 2));
    expect(sel.timings.map((t) => t.name)).toEqual(['cpu', 'wasm']);
    for (const t of sel.timings) expect(t.secondsPerStep).toBeGreaterThan(0);
    const fastest = sel.timings.reduce((a, b) => (b.secondsPerStep < a.secondsPerStep ? b : a)).name;
    expect(sel.name).toBe(fastest);
    expect(tf.getBackend()).toBe(fastest);
    expect(sel.reason).toMatch(/fastest on this machine's probe at this run's size \(cpu [\d.]+ ms\/step, wasm [\d.]+ ms\/step\)/);
    const other = sel.skipped.find((s) => s.name === (fastest === 'cpu' ? 'wasm' : 'cpu'));
    expect(other?.why).toMatch(/slower on this machine's probe/);
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);

  it('skips a backend whose training step throws, with the reason, and keeps the one that ran', async () => {
    const sel = await selectFastestBackend(['wasm', 'cpu'], async () => {
      if (tf.getBackend() === 'wasm') throw new Error('out of device memory');
      return timeTrainingStep(TINY, 2, 1);
    });
    expect(sel.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(sel.skipped).toContainEqual({ name: 'wasm', why: 'started, but a training step failed on it: out of device memory' });
  }, 120_000);

  it('fails with every reason when no backend can run a step', async () => {
    await expect(selectFastestBackend(['cpu'], async () => {
      throw new Error('boom');
    })).rejects.toThrow(/none of cpu could run a training step \(cpu: started, but a training step failed on it: boom\)/);
  });

  it("'auto' probes only when a hardware WebGPU adapter started", async () => {
    let probes = 0;
    const sel = await selectBackend('auto', {
      probe: async () => {
        probes++;
        return timeTrainingStep(TINY, 2, 1);
      },
    });
    const webgpuSkipped = sel.skipped.some((s) => s.name === 'webgpu');
    if (webgpuSkipped && sel.name !== 'webgpu') {
      // No usable adapter (this machine: none, or a software one): the CPU path without a race.
      expect(probes).toBe(0);
      expect(sel.reason).not.toMatch(/probe/);
    } else {
      expect(probes).toBeGreaterThanOrEqual(1);
      expect(sel.reason).toMatch(/fastest on this machine's probe/);
    }
  }, 120_000);

  it('refuses a step count outside 1..100', async () => {
    await expect(timeTrainingStep(TINY, 2, 0)).rejects.toThrow(RangeError);
    await expect(timeTrainingStep(TINY, 2, 1.5)).rejects.toThrow(/integer in 1\.\.100/);
  });
});
