// The built-in parity check: the trained tfjs model (inference-mode BatchNorm) and the exported
// graphs in onnxruntime-node must agree on the same images, or the export fails.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig, WeightMap } from '../types.js';
import { GanomalyModel, latentDistance } from '../train/model.js';
import { ParityError } from './errors.js';
import { maxAbsDiff, nhwcToNchw } from './layout.js';
import { createCpuSession, runFloat } from './ortNode.js';

export const PARITY_TOLERANCE = 1e-4;

export interface ParityReport {
  images: number;
  tolerance: number;
  /** Max |tfjs − ONNX| per graph output. */
  maxAbsDiff: Record<string, number>;
}

/** `images` is NHWC in [-1, 1], `n` images. Graph bytes keyed GE, GD, E, detector, and D when it is exported. */
export async function checkParity(
  cfg: ModelConfig,
  weights: WeightMap,
  graphs: Record<'GE' | 'GD' | 'E' | 'detector', Uint8Array> & { D?: Uint8Array },
  images: Float32Array,
  n: number,
  tolerance = PARITY_TOLERANCE,
): Promise<ParityReport> {
  const { isize, nc, nz } = cfg;
  const model = GanomalyModel.fromWeights(cfg, weights);
  let ref: Record<string, Float32Array>;
  try {
    ref = tf.tidy(() => {
      const x = tf.tensor4d(images, [n, isize, isize, nc]);
      const { z, xHat, zHat } = model.generate(x, false);
      const score = latentDistance(z, zHat, cfg.scoreKind);
      const map = x.sub(xHat).abs().mean(3);
      const d = graphs.D ? model.discriminate(x, false) : undefined;
      const dRef: Record<string, Float32Array> = d
        ? { prob: d.logits.sigmoid().dataSync() as Float32Array, features: nhwcToNchw(d.features.dataSync() as Float32Array, n, d.features.shape[1]!, d.features.shape[2]!, d.features.shape[3]!) }
        : {};
      return {
        ...dRef,
        z: z.dataSync() as Float32Array,
        x_hat: nhwcToNchw(xHat.dataSync() as Float32Array, n, isize, isize, nc),
        z_hat: zHat.dataSync() as Float32Array,
        score: score.dataSync() as Float32Array,
        anomaly_map: map.dataSync() as Float32Array,
      };
    });
  } finally {
    model.dispose();
  }
  const xNchw = nhwcToNchw(images, n, isize, isize, nc);
  const imgDims = [n, nc, isize, isize];
  const diffs: Record<string, number> = {};
  const sessions = await Promise.all([graphs.GE, graphs.GD, graphs.E, graphs.detector].map(createCpuSession));
  try {
    const [ge, gd, e, det] = sessions as [typeof sessions[0], typeof sessions[0], typeof sessions[0], typeof sessions[0]];
    diffs['GE.z'] = maxAbsDiff((await runFloat(ge, 'x', xNchw, imgDims)).z!, ref.z!);
    // Each sub-graph gets the reference input of its stage, so an error is pinned to one graph.
    diffs['GD.x_hat'] = maxAbsDiff((await runFloat(gd, 'z', ref.z!, [n, nz])).x_hat!, ref.x_hat!);
    diffs['E.z_hat'] = maxAbsDiff((await runFloat(e, 'x_hat', ref.x_hat!, imgDims)).z_hat!, ref.z_hat!);
    const d = await runFloat(det, 'x', xNchw, imgDims);
    for (const k of ['score', 'z', 'z_hat', 'x_hat', 'anomaly_map']) diffs[`detector.${k}`] = maxAbsDiff(d[k]!, ref[k]!);
  } finally {
    await Promise.all(sessions.map((s) => s.release()));
  }
  if (graphs.D) {
    const ds = await createCpuSession(graphs.D);
    try {
      const out = await runFloat(ds, 'x', xNchw, imgDims);
      diffs['D.prob'] = maxAbsDiff(out.prob!, ref.prob!);
      diffs['D.features'] = maxAbsDiff(out.features!, ref.features!);
    } finally {
      await ds.release();
    }
  }
  const bad = Object.entries(diffs).filter(([, v]) => !(v <= tolerance));
  if (bad.length) {
    throw new ParityError(
      `exported graphs disagree with the trained model beyond ${tolerance}: ${bad.map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`,
    );
  }
  return { images: n, tolerance, maxAbsDiff: diffs };
}
