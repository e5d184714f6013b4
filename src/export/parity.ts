// The built-in parity check: the trained tfjs model (inference-mode BatchNorm) and the exported
// graphs in ONNX Runtime (node for the CLI, web in a page) must agree on the same images, or the export fails.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig, WeightMap } from '../types.js';
import { GanomalyModel, latentDistance } from '../train/model.js';
import { ParityError } from './errors.js';
import { maxAbsDiff, nhwcToNchw } from './layout.js';
import { GRAPH_IO, INPUT_NAME } from './onnx/index.js';
import type { OrtRunner } from './ort-runner.js';

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
  runner: OrtRunner,
  tolerance = PARITY_TOLERANCE,
): Promise<ParityReport> {
  const { isize, nc, nz } = cfg;
  const model = GanomalyModel.fromWeights(cfg, weights);
  let ref: Record<string, Float32Array>;
  try {
    const t = tf.tidy(() => {
      const x = tf.tensor4d(images, [n, isize, isize, nc]);
      const { z, xHat, zHat } = model.generate(x, false);
      const d = graphs.D ? model.discriminate(x, false) : undefined;
      return {
        z, xHat, zHat, score: latentDistance(z, zHat, cfg.scoreKind), map: x.sub(xHat).abs().mean(3),
        ...(d ? { prob: d.logits.sigmoid(), features: d.features } : {}),
      };
    });
    // Read asynchronously: backends without synchronous reads (webgpu in a page) work too.
    try {
      ref = {
        z: (await t.z.data()) as Float32Array,
        x_hat: nhwcToNchw((await t.xHat.data()) as Float32Array, n, isize, isize, nc),
        z_hat: (await t.zHat.data()) as Float32Array,
        score: (await t.score.data()) as Float32Array,
        anomaly_map: (await t.map.data()) as Float32Array,
      };
      if (t.prob && t.features) {
        const [, fh, fw, fc] = t.features.shape as [number, number, number, number];
        ref.prob = (await t.prob.data()) as Float32Array;
        ref.features = nhwcToNchw((await t.features.data()) as Float32Array, n, fh, fw, fc);
      }
    } finally {
      tf.dispose(Object.values(t).filter((x): x is tf.Tensor => x !== undefined));
    }
  } finally {
    model.dispose();
  }
  const xNchw = nhwcToNchw(images, n, isize, isize, nc);
  const imgDims = [n, nc, isize, isize];
  const diffs: Record<string, number> = {};
  const sessions = await Promise.all([graphs.GE, graphs.GD, graphs.E, graphs.detector].map((g) => runner.create(g)));
  try {
    const [ge, gd, e, det] = sessions as [typeof sessions[0], typeof sessions[0], typeof sessions[0], typeof sessions[0]];
    diffs['GE.z'] = maxAbsDiff((await runner.run(ge, INPUT_NAME, xNchw, imgDims)).z!, ref.z!);
    // Each sub-graph gets the reference input of its stage, so an error is pinned to one graph.
    diffs['GD.x_hat'] = maxAbsDiff((await runner.run(gd, GRAPH_IO.GD.inputs[0], ref.z!, [n, nz])).x_hat!, ref.x_hat!);
    diffs['E.z_hat'] = maxAbsDiff((await runner.run(e, GRAPH_IO.E.inputs[0], ref.x_hat!, imgDims)).z_hat!, ref.z_hat!);
    const d = await runner.run(det, INPUT_NAME, xNchw, imgDims);
    for (const k of GRAPH_IO.detector.outputs) diffs[`detector.${k}`] = maxAbsDiff(d[k]!, ref[k]!);
  } finally {
    await Promise.all(sessions.map((s) => s.release()));
  }
  if (graphs.D) {
    const ds = await runner.create(graphs.D);
    try {
      const out = await runner.run(ds, INPUT_NAME, xNchw, imgDims);
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
