// GANomaly networks in tfjs, built from the shared layer plan. Parameters are plain tf.Variables
// keyed by plan names (no tf.layers): BatchNorm, LeakyReLU and bias semantics then match the
// PyTorch reference exactly, and export reads the same names.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig, NetName, WeightMap } from '../types.js';
import {
  BN_EPSILON,
  BN_MOMENTUM,
  LEAKY_ALPHA,
  ganomalyPlans,
  planParams,
  validateModelConfig,
  type Activation,
  type NetPlan,
} from './architecture.js';
import { negativeSlope, type FusedActivation } from '../backend/fused/math.js';
import { batchNormActivation, batchNormMovingFused, fusedPartActive, leakyReluFused } from '../backend/fused/ops.js';

/** Batch statistics seen by one BatchNorm layer in training mode, applied to the moving averages after the step. */
export interface BnBatchStats {
  name: string;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
  count: number;
}

export interface GeneratorOutput {
  z: tf.Tensor2D;
  xHat: tf.Tensor4D;
  zHat: tf.Tensor2D;
}

export interface DiscriminatorOutput {
  logits: tf.Tensor1D;
  features: tf.Tensor4D;
}

const isMovingStat = (name: string) => name.endsWith('.bn.mean') || name.endsWith('.bn.var');

export class GanomalyModel {
  readonly config: ModelConfig;
  readonly plans: Record<NetName, NetPlan>;
  readonly vars = new Map<string, tf.Variable>();
  /** Tensors the fused ops keep for their gradients (see fused/ops.ts Hold); freed by releaseFusedSaves. */
  private held: tf.Tensor[] = [];
  private readonly hold = (ts: tf.Tensor[]) => {
    this.held.push(...ts);
  };

  private constructor(config: ModelConfig) {
    validateModelConfig(config);
    this.config = { ...config };
    this.plans = ganomalyPlans(config);
  }

  /** Reference init: conv N(0, 0.02); BN gamma N(1, 0.02), beta 0; moving mean 0, var 1. */
  static create(config: ModelConfig, seed: number): GanomalyModel {
    const m = new GanomalyModel(config);
    for (const net of ['GE', 'GD', 'E', 'D'] as const) m.initNet(net, seed);
    return m;
  }

  static fromWeights(config: ModelConfig, weights: WeightMap): GanomalyModel {
    const m = new GanomalyModel(config);
    for (const net of ['GE', 'GD', 'E', 'D'] as const) {
      for (const p of planParams(m.plans[net])) {
        const t = weights[p.name];
        if (!t) throw new Error(`weights lack '${p.name}'`);
        if (t.shape.join() !== p.shape.join()) {
          throw new Error(`weight '${p.name}' has shape [${t.shape}] but the model needs [${p.shape}]`);
        }
        const value = tf.tensor(t.data, p.shape);
        m.vars.set(p.name, tf.variable(value, !isMovingStat(p.name)));
        value.dispose(); // the variable holds its own reference to the data
      }
    }
    return m;
  }

  /** (Re-)initialises one network; `seed` and the net name fix every draw, so runs are reproducible. */
  initNet(net: NetName, seed: number): void {
    const params = planParams(this.plans[net]);
    params.forEach((p, i) => {
      const s = seed * 7919 + hashName(net) * 104729 + i;
      const value = tf.tidy(() => {
        if (p.name.endsWith('.w')) return tf.randomNormal(p.shape, 0, 0.02, 'float32', s);
        if (p.name.endsWith('.bn.gamma')) return tf.randomNormal(p.shape, 1, 0.02, 'float32', s);
        if (p.name.endsWith('.bn.var')) return tf.ones(p.shape);
        return tf.zeros(p.shape);
      });
      const existing = this.vars.get(p.name);
      if (existing) {
        existing.assign(value);
        value.dispose();
      } else {
        this.vars.set(p.name, tf.variable(value, !isMovingStat(p.name)));
        value.dispose();
      }
    });
  }

  /** Trainable variables of the given networks, in plan order (the optimizer relies on a stable order). */
  trainable(nets: NetName[]): tf.Variable[] {
    return nets.flatMap((net) =>
      planParams(this.plans[net]).filter((p) => !isMovingStat(p.name)).map((p) => this.vars.get(p.name)!),
    );
  }

  /**
   * Runs one network. In training mode BatchNorm normalises with the batch's biased variance and
   * pushes the batch statistics to `bnStats` (moving averages are updated by the caller, outside
   * the gradient tape); in inference mode it uses the moving statistics.
   */
  private runNet(plan: NetPlan, x: tf.Tensor4D, training: boolean, bnStats?: BnBatchStats[]): { out: tf.Tensor4D; features: tf.Tensor4D } {
    let h = x;
    let features = x;
    const n = plan.layers.length;
    // Fused kernels need somewhere to hand the batch statistics (their gradient reads them).
    const fused = training && bnStats !== undefined && fusedPartActive('bnact');
    plan.layers.forEach((l, idx) => {
      const w = this.vars.get(`${plan.net}.${l.name}.w`)!;
      const pad = l.pad === 0 ? 'valid' : 'same';
      if (l.kind === 'conv') {
        h = tf.conv2d(h, w as tf.Tensor4D, l.stride, pad);
      } else {
        const batch = h.shape[0];
        h = tf.conv2dTranspose(h, w as tf.Tensor4D, [batch, l.outSize, l.outSize, l.outChannels], l.stride, pad);
      }
      const key = `${plan.net}.${l.name}.bn`;
      if (fused && l.batchNorm && l.activation !== 'tanh') {
        h = this.fusedBatchNormActivation(h, key, l.activation, bnStats!);
      } else {
        if (l.batchNorm) h = this.batchNorm(h, key, training, bnStats);
        h = this.activate(h, l.activation, fused);
      }
      if (idx === n - 2) features = h;
    });
    return { out: h, features };
  }

  /** BatchNorm with the batch's statistics (pushed to bnStats) in training, the moving ones otherwise. */
  private batchNorm(h: tf.Tensor4D, key: string, training: boolean, bnStats?: BnBatchStats[]): tf.Tensor4D {
    const gamma = this.vars.get(`${key}.gamma`)! as tf.Tensor1D;
    const beta = this.vars.get(`${key}.beta`)! as tf.Tensor1D;
    if (!training) {
      return tf.batchNorm(h, this.vars.get(`${key}.mean`)! as tf.Tensor1D, this.vars.get(`${key}.var`)! as tf.Tensor1D, beta, gamma, BN_EPSILON);
    }
    const { mean, variance } = tf.moments(h, [0, 1, 2]);
    if (bnStats) {
      const [b, hh, ww] = h.shape;
      bnStats.push({ name: key, mean: tf.keep(mean) as tf.Tensor1D, variance: tf.keep(variance) as tf.Tensor1D, count: b * hh * ww });
    }
    return tf.batchNorm(h, mean as tf.Tensor1D, variance as tf.Tensor1D, beta, gamma, BN_EPSILON);
  }

  /** Training-mode BatchNorm and its activation as one fused kernel (and one for the gradient). */
  private fusedBatchNormActivation(h: tf.Tensor4D, key: string, act: FusedActivation, bnStats: BnBatchStats[]): tf.Tensor4D {
    const [b, hh, ww] = h.shape;
    const gamma = this.vars.get(`${key}.gamma`)! as tf.Tensor1D;
    const beta = this.vars.get(`${key}.beta`)! as tf.Tensor1D;
    return batchNormActivation(h, gamma, beta, BN_EPSILON, negativeSlope(act, LEAKY_ALPHA), (mean, variance) => {
      bnStats.push({ name: key, mean, variance, count: b * hh * ww });
    }, this.hold);
  }

  /** The layer's activation; with the fused kernels, LeakyReLU/ReLU get the one-kernel gradient. */
  private activate(h: tf.Tensor4D, act: Activation, fused: boolean): tf.Tensor4D {
    if (act === 'lrelu' || act === 'relu') {
      if (fused) return leakyReluFused(h, negativeSlope(act, LEAKY_ALPHA), this.hold);
      return act === 'lrelu' ? tf.leakyRelu(h, LEAKY_ALPHA) : tf.relu(h);
    }
    return act === 'tanh' ? tf.tanh(h) : h;
  }

  /** GE → GD → E. x is NHWC in [-1, 1]. */
  generate(x: tf.Tensor4D, training: boolean, bnStats?: BnBatchStats[]): GeneratorOutput {
    const { nz } = this.config;
    const batch = x.shape[0];
    const z = this.runNet(this.plans.GE, x, training, bnStats).out.reshape([batch, nz]) as tf.Tensor2D;
    const xHat = this.runNet(this.plans.GD, z.reshape([batch, 1, 1, nz]) as tf.Tensor4D, training, bnStats).out;
    const zHat = this.runNet(this.plans.E, xHat, training, bnStats).out.reshape([batch, nz]) as tf.Tensor2D;
    return { z, xHat, zHat };
  }

  /** D: logits (sigmoid gives the probability of "real") and the features of the last block before the classifier. */
  discriminate(x: tf.Tensor4D, training: boolean, bnStats?: BnBatchStats[]): DiscriminatorOutput {
    const { out, features } = this.runNet(this.plans.D, x, training, bnStats);
    return { logits: out.reshape([x.shape[0]]) as tf.Tensor1D, features };
  }

  /** Anomaly score per image, always in inference mode. */
  score(x: tf.Tensor4D): tf.Tensor1D {
    return tf.tidy(() => {
      const { z, zHat } = this.generate(x, false);
      return latentDistance(z, zHat, this.config.scoreKind);
    });
  }

  /** Frees what the fused ops kept for the backward pass: call once the step's gradients exist. */
  releaseFusedSaves(): void {
    tf.dispose(this.held);
    this.held = [];
  }

  /** Folds one step's batch statistics into the moving averages exactly like nn.BatchNorm2d (unbiased running var). */
  applyBnStats(stats: BnBatchStats[]): void {
    if (fusedPartActive('moving')) {
      // One kernel per layer, folding its passes (D runs four times a step) in order.
      const byLayer = new Map<string, BnBatchStats[]>();
      for (const s of stats) {
        const list = byLayer.get(s.name);
        if (list) list.push(s);
        else byLayer.set(s.name, [s]);
      }
      for (const [name, list] of byLayer) {
        batchNormMovingFused(this.vars.get(`${name}.mean`)!, this.vars.get(`${name}.var`)!, list, BN_MOMENTUM);
      }
    } else {
      tf.tidy(() => {
        for (const s of stats) {
          const mean = this.vars.get(`${s.name}.mean`)!;
          const variance = this.vars.get(`${s.name}.var`)!;
          const unbiased = s.count > 1 ? s.variance.mul(s.count / (s.count - 1)) : s.variance;
          mean.assign(mean.mul(1 - BN_MOMENTUM).add(s.mean.mul(BN_MOMENTUM)));
          variance.assign(variance.mul(1 - BN_MOMENTUM).add(unbiased.mul(BN_MOMENTUM)));
        }
      });
    }
    for (const s of stats) {
      s.mean.dispose();
      s.variance.dispose();
    }
  }

  getWeights(): WeightMap {
    const out: WeightMap = {};
    for (const [name, v] of this.vars) out[name] = { shape: [...v.shape], data: v.dataSync() as Float32Array };
    return out;
  }

  /** Like getWeights, but reads asynchronously (GPU backends cannot read synchronously). */
  async readWeights(): Promise<WeightMap> {
    const out: WeightMap = {};
    for (const [name, v] of this.vars) out[name] = { shape: [...v.shape], data: (await v.data()) as Float32Array };
    return out;
  }

  setWeights(weights: WeightMap): void {
    for (const [name, v] of this.vars) {
      const t = weights[name];
      if (!t || t.data.length !== v.size) throw new Error(`weights lack '${name}' or have the wrong size`);
      const value = tf.tensor(t.data, v.shape);
      v.assign(value);
      value.dispose();
    }
  }

  dispose(): void {
    this.releaseFusedSaves();
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}

/** 'l2': mean over nz of (z − ẑ)², the reference's score; 'l1': mean |z − ẑ|, the paper's. */
export function latentDistance(z: tf.Tensor2D, zHat: tf.Tensor2D, kind: 'l1' | 'l2'): tf.Tensor1D {
  return tf.tidy(() => {
    const d = z.sub(zHat);
    return (kind === 'l2' ? d.square() : d.abs()).mean(1) as tf.Tensor1D;
  });
}

function hashName(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) % 1000;
  return h;
}
