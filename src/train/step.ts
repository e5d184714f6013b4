// One GANomaly optimisation step, in the reference's order: forward G, step G, step D on the
// same (detached) reconstruction, then re-initialise D if it has won outright.
import * as tf from '@tensorflow/tfjs';
import type { LossWeights } from '../types.js';
import { Adam } from './adam.js';
import { bceWithLogits, l1Loss, l2Loss } from './losses.js';
import type { BnBatchStats, GanomalyModel } from './model.js';

export interface StepLosses {
  errG: number;
  errGAdv: number;
  errGCon: number;
  errGEnc: number;
  errD: number;
  errDReal: number;
  errDFake: number;
  /** True when D's loss fell below 1e-5 and D was re-initialised after this step. */
  dReinit: boolean;
}

export const D_REINIT_THRESHOLD = 1e-5;

/** Gradients of `loss` w.r.t. `vars` (in order), with the loss value; everything else is freed. */
function gradients(loss: () => tf.Scalar, vars: tf.Variable[]): { value: tf.Scalar; grads: tf.Tensor[] } {
  const { value, grads } = tf.variableGrads(loss, vars);
  return { value, grads: vars.map((v) => grads[v.name]!) };
}

export class GanomalyStep {
  readonly optG: Adam;
  readonly optD: Adam;
  private readonly gVars: tf.Variable[];
  private readonly dVars: tf.Variable[];

  constructor(
    readonly model: GanomalyModel,
    readonly w: LossWeights,
    opt: { lr: number; beta1: number; beta2: number },
    private readonly reinitSeed: number,
  ) {
    this.gVars = model.trainable(['GE', 'GD', 'E']);
    this.dVars = model.trainable(['D']);
    this.optG = new Adam(this.gVars, opt);
    this.optD = new Adam(this.dVars, opt);
  }

  /** Re-initialises D when its loss collapsed (reference: errD < 1e-5 after the step). */
  maybeReinitD(errD: number): boolean {
    const reinit = errD < D_REINIT_THRESHOLD;
    if (reinit) this.model.initNet('D', this.reinitSeed + this.optD.step);
    return reinit;
  }

  /** One step on the batch x (NHWC, preprocessed); updates the model in place. */
  async run(x: tf.Tensor4D): Promise<StepLosses> {
    const bnStats: BnBatchStats[] = [];
    const parts: tf.Scalar[] = [];
    let xHatKept: tf.Tensor4D | undefined;
    const g = gradients(() => {
      const { z, xHat, zHat } = this.model.generate(x, true, bnStats);
      const fReal = this.model.discriminate(x, true, bnStats).features;
      const fFake = this.model.discriminate(xHat, true, bnStats).features;
      const adv = l2Loss(fReal, fFake);
      const con = l1Loss(x, xHat);
      const enc = l2Loss(z, zHat);
      parts.push(tf.keep(adv), tf.keep(con), tf.keep(enc));
      xHatKept = tf.keep(xHat);
      return adv.mul(this.w.adv).add(con.mul(this.w.con)).add(enc.mul(this.w.enc)) as tf.Scalar;
    }, this.gVars);
    // D sees the reconstruction made before G's update, as in the reference (forward_d precedes
    // the G step); xHatKept is a plain tensor here, so no gradient reaches G.
    const dParts: tf.Scalar[] = [];
    const d = gradients(() => {
      const real = this.model.discriminate(x, true, bnStats).logits;
      const fake = this.model.discriminate(xHatKept!, true, bnStats).logits;
      const lr = bceWithLogits(real, 1);
      const lf = bceWithLogits(fake, 0);
      dParts.push(tf.keep(lr), tf.keep(lf));
      return lr.add(lf).mul(0.5) as tf.Scalar;
    }, this.dVars);
    xHatKept!.dispose();
    this.model.releaseFusedSaves();
    // Queue the updates before reading the losses back, so a GPU keeps working meanwhile. The loss
    // values stay on the device until then: GPU backends can only read them back asynchronously.
    this.optG.apply(g.grads);
    this.optD.apply(d.grads);
    this.model.applyBnStats(bnStats);
    tf.dispose([...g.grads, ...d.grads]);
    const losses = await readLosses([g.value, ...parts, d.value, ...dParts]);
    return { ...losses, dReinit: this.maybeReinitD(losses.errD) };
  }

  dispose(): void {
    this.optG.dispose();
    this.optD.dispose();
  }
}

/** Reads (and frees) the step's loss scalars [errG, adv, con, enc, errD, dReal, dFake]. */
async function readLosses(t: tf.Scalar[]): Promise<Omit<StepLosses, 'dReinit'>> {
  // One read for all seven: on a GPU backend each read is a round trip that drains the queue.
  const stacked = tf.stack(t);
  tf.dispose(t);
  const v = Array.from(await stacked.data());
  stacked.dispose();
  const [errG, errGAdv, errGCon, errGEnc, errD, errDReal, errDFake] = v as [number, number, number, number, number, number, number];
  return { errG, errGAdv, errGCon, errGEnc, errD, errDReal, errDFake };
}
