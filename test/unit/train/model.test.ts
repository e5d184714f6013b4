import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, countTrainable, encoderPlan, finalMapSize, ganomalyPlans } from '../../../src/train/architecture.js';
import { GanomalyModel } from '../../../src/train/model.js';
import { GanomalyStep } from '../../../src/train/step.js';
import type { ModelConfig } from '../../../src/types.js';

const cfg = (o: Partial<ModelConfig>): ModelConfig => ({ isize: 32, nc: 1, nz: 100, ngf: 64, ndf: 64, scoreKind: 'l2', ...o });

beforeAll(async () => { await tf.setBackend('cpu'); });

describe('architecture', () => {
  it('matches the reference parameter count (≈1.07 M per encoder at 32/64/100)', () => {
    // conv0 1·64·16 + conv1 64·128·16 + BN 2·128 + conv2 128·256·16 + BN 2·256 + final 256·100·16
    expect(countTrainable(encoderPlan('GE', cfg({}), 100, 64))).toBe(1024 + 131072 + 256 + 524288 + 512 + 409600);
    const plans = ganomalyPlans(cfg({}));
    expect(plans.D.layers.at(-1)!.outChannels).toBe(1);
    expect(plans.GD.layers.map((l) => l.outChannels)).toEqual([256, 128, 64, 1]);
    expect(plans.GE.layers.map((l) => l.outSize)).toEqual([16, 8, 4, 1]);
  });

  it('supports multiples of 16 that are not powers of two, and rejects the rest', () => {
    expect(finalMapSize(32)).toBe(4);
    expect(finalMapSize(128)).toBe(4);
    expect(finalMapSize(48)).toBe(3);
    expect(finalMapSize(80)).toBe(5);
    for (const bad of [8, 20, 33, 0, -16]) expect(() => ganomalyPlans(cfg({ isize: bad }))).toThrow(ConfigError);
    expect(() => ganomalyPlans(cfg({ nc: 2 as 1 }))).toThrow(/nc/);
  });
});

describe('model shapes', () => {
  const models: GanomalyModel[] = [];
  afterAll(() => models.forEach((m) => m.dispose()));
  for (const isize of [32, 64, 48]) {
    for (const nc of [1, 3] as const) {
      it(`isize ${isize} nc ${nc}`, () => {
        const m = GanomalyModel.create(cfg({ isize, nc, nz: 16, ngf: 8, ndf: 8 }), 1);
        models.push(m);
        tf.tidy(() => {
          const x = tf.randomUniform([2, isize, isize, nc], -1, 1) as tf.Tensor4D;
          const { z, xHat, zHat } = m.generate(x, false);
          expect(z.shape).toEqual([2, 16]);
          expect(zHat.shape).toEqual([2, 16]);
          expect(xHat.shape).toEqual([2, isize, isize, nc]);
          const d = m.discriminate(x, false);
          expect(d.logits.shape).toEqual([2]);
          const last = finalMapSize(isize);
          expect(d.features.shape.slice(1, 3)).toEqual([last, last]);
          expect(m.score(x).shape).toEqual([2]);
        });
      });
    }
  }
});

describe('training step', () => {
  it('lowers the loss on a small fixture, leaks no tensors, updates BN statistics', async () => {
    const m = GanomalyModel.create(cfg({ isize: 16, nz: 8, ngf: 8, ndf: 8 }), 3);
    const step = new GanomalyStep(m, { adv: 1, con: 50, enc: 1 }, { lr: 2e-3, beta1: 0.5, beta2: 0.999 }, 3);
    // A fixed batch of smooth blobs: easy to reconstruct, so the contextual loss must fall.
    const x = tf.tidy(() => {
      const g = tf.linspace(-1, 1, 16);
      const yy = g.reshape([16, 1]).tile([1, 16]);
      const xx = g.reshape([1, 16]).tile([16, 1]);
      const imgs = [0.2, 0.5, 0.8, 1.1].map((r) => xx.square().add(yy.square()).less(r).cast('float32').mul(2).sub(1));
      return tf.stack(imgs).reshape([4, 16, 16, 1]) as tf.Tensor4D;
    });
    const meanBefore = m.vars.get('GE.conv1.bn.mean')!.dataSync().slice();
    const first = await step.run(x);
    const counts: number[] = [];
    let last = first;
    for (let i = 0; i < 25; i++) {
      last = await step.run(x);
      counts.push(tf.memory().numTensors);
    }
    expect(last.errGCon).toBeLessThan(first.errGCon * 0.7);
    expect(new Set(counts).size).toBe(1);
    expect(Array.from(m.vars.get('GE.conv1.bn.mean')!.dataSync())).not.toEqual(Array.from(meanBefore));
    for (const v of Object.values(last)) expect(Number.isFinite(Number(v))).toBe(true);
    step.dispose();
    m.dispose();
    x.dispose();
  });
});
