// Adam as in torch.optim.Adam (eps 1e-8, bias-corrected). Own implementation because its state
// must checkpoint and restore exactly, in a fixed order, and average across workers.
import * as tf from '@tensorflow/tfjs';
import type { NamedTensor } from '../types.js';
import { adamFused, fusedPartActive } from '../backend/fused/ops.js';

export interface AdamOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps?: number;
}

export class Adam {
  step = 0;
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];
  private readonly eps: number;

  constructor(private readonly params: tf.Variable[], private readonly opts: AdamOptions) {
    this.eps = opts.eps ?? 1e-8;
    // tf.variable keeps its own reference to the initial value's data: the temporary must be freed.
    this.m = params.map((p) => ownedVariable(tf.zerosLike(p)));
    this.v = params.map((p) => ownedVariable(tf.zerosLike(p)));
  }

  /** grads[i] belongs to params[i]. The caller keeps ownership of grads. */
  apply(grads: tf.Tensor[]): void {
    if (grads.length !== this.params.length) throw new Error('Adam.apply: gradient count differs from parameter count');
    this.step++;
    const { lr, beta1, beta2 } = this.opts;
    const bc1 = 1 - beta1 ** this.step;
    const bc2 = 1 - beta2 ** this.step;
    if (fusedPartActive('adam')) {
      adamFused(this.params, grads, this.m, this.v, { lr, beta1, beta2, eps: this.eps, bc1, bc2 });
      return;
    }
    tf.tidy(() => {
      this.params.forEach((p, i) => {
        const g = grads[i]!;
        const m = this.m[i]!.mul(beta1).add(g.mul(1 - beta1));
        const v = this.v[i]!.mul(beta2).add(g.square().mul(1 - beta2));
        this.m[i]!.assign(m);
        this.v[i]!.assign(v);
        const update = m.div(bc1).div(v.div(bc2).sqrt().add(this.eps)).mul(lr);
        p.assign(p.sub(update));
      });
    });
  }

  async readState(prefix: string): Promise<Record<string, NamedTensor>> {
    const out: Record<string, NamedTensor> = {};
    for (const [kind, list] of [['m', this.m], ['v', this.v]] as const) {
      for (let i = 0; i < list.length; i++) out[`${prefix}.${kind}.${i}`] = { shape: [...list[i]!.shape], data: (await list[i]!.data()) as Float32Array };
    }
    return out;
  }

  setState(prefix: string, state: Record<string, NamedTensor>, step: number): void {
    const load = (vars: tf.Variable[], kind: string) => vars.forEach((t, i) => {
      const s = state[`${prefix}.${kind}.${i}`];
      if (!s || s.data.length !== t.size) throw new Error(`optimizer state lacks ${prefix}.${kind}.${i} or has the wrong size`);
      const value = tf.tensor(s.data, t.shape);
      t.assign(value);
      value.dispose();
    });
    load(this.m, 'm');
    load(this.v, 'v');
    this.step = step;
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
  }
}

/** A non-trainable variable initialised from `value`, which is disposed (the variable holds its data). */
function ownedVariable(value: tf.Tensor): tf.Variable {
  const v = tf.variable(value, false);
  value.dispose();
  return v;
}
