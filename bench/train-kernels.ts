// Times the wasm convolution-gradient kernels at the GANomaly shapes (32×32×1, ngf 64, nz 100)
// and a forward+backward of the real networks, with the replacement kernels and without.
// Run (offline, with what the project installs):
//   npx esbuild bench/train-kernels.ts --bundle --platform=node --format=esm --packages=external \
//     --outfile=.tmp/train-kernels.mjs && node .tmp/train-kernels.mjs [batch=64] [reps=5]
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { decoderPlan, DEFAULT_MODEL_CONFIG, encoderPlan, LEAKY_ALPHA, BN_EPSILON, type LayerPlan } from '../src/train/architecture.js';
import { conv2dBackpropFilterWasm, IM2COL_MAX_ROWS, type FilterGradMethod } from '../src/backend/conv-backprop-filter.js';
import { registerFastWasmKernels, unregisterFastWasmKernels } from '../src/backend/wasm-kernels.js';
import { selectBackend } from '../src/backend/select.js';

const batch = Number(process.argv[2] ?? 64);
const reps = Number(process.argv[3] ?? 5);
const cfg = DEFAULT_MODEL_CONFIG;

/**
 * Fastest and median wall time of `reps` runs after one warm-up (wasm kernels run synchronously).
 * The fastest run is the better estimate on a shared machine: other load only ever adds time.
 */
function time(f: () => void, n = reps): { min: number; med: number } {
  const ts: number[] = [];
  for (let i = 0; i <= n; i++) {
    const t0 = performance.now();
    tf.tidy(() => {
      f();
    });
    ts.push(performance.now() - t0);
  }
  ts.shift();
  ts.sort((a, b) => a - b);
  return { min: ts[0]!, med: ts[Math.floor(ts.length / 2)]! };
}

const fmt = (t: { min: number; med: number } | string): string =>
  (typeof t === 'string' ? t : `${t.min.toFixed(0)}/${t.med.toFixed(0)}`).padStart(11);

function convShape(l: LayerPlan): { x: number[]; w: number[]; pad: 'same' | 'valid' } {
  const x = [batch, l.inSize, l.inSize, l.inChannels];
  return { x, w: [l.kernel, l.kernel, l.inChannels, l.outChannels], pad: l.pad === 0 ? 'valid' : 'same' };
}

function kernelTable(): void {
  const layers = encoderPlan('GE', cfg, cfg.nz, cfg.ngf).layers;
  console.log(`\nPer-kernel ms (fastest/median of ${reps}), batch ${batch}; the decoder's convT layers run these shapes mirrored`);
  console.log(`${'layer'.padEnd(34)}${fmt('fwd Conv2D')}${fmt('dW conv')}${fmt('dW im2col')}${fmt('dX new')}${fmt('dX stock')}`);
  for (const l of layers) {
    const { x: xs, w: ws, pad } = convShape(l);
    const shape4 = (s: number[]) => s as [number, number, number, number];
    const x = tf.randomNormal<tf.Rank.R4>(shape4(xs));
    const w = tf.randomNormal<tf.Rank.R4>(shape4(ws));
    const dy = tf.tidy(() => tf.randomNormal(tf.conv2d(x, w, l.stride, pad).shape)) as tf.Tensor4D;
    const info = tf.backend_util.computeConv2DInfo(
      shape4(xs), shape4(ws), l.stride, 1, pad,
    );
    const dW = (m: FilterGradMethod) => () => {
      const r = conv2dBackpropFilterWasm(tf.backend() as BackendWasm, x, dy, info, m);
      tf.engine().makeTensorFromTensorInfo(r);
    };
    const fwd = time(() => tf.conv2d(x, w, l.stride, pad));
    const dwConv = time(dW('conv'));
    const dwIm2col = time(dW('im2col'));
    const dxNew = time(() => tf.conv2dTranspose(dy, w, shape4(xs), l.stride, pad));
    unregisterFastWasmKernels();
    const dxStock = time(() => tf.conv2dTranspose(dy, w, shape4(xs), l.stride, pad), 2);
    registerFastWasmKernels();
    const name = `${l.name} ${l.inSize}²×${l.inChannels}→${l.outSize}²×${l.outChannels} k${l.kernel}s${l.stride}`;
    console.log(`${name.padEnd(34)}${fmt(fwd)}${fmt(dwConv)}${fmt(dwIm2col)}${fmt(dxNew)}${fmt(dxStock)}`);
    tf.dispose([x, w, dy]);
  }
  console.log(`dW: Conv2DBackpropFilter (the stock wasm backend has none); auto picks im2col up to kh·kw·Cin = ${IM2COL_MAX_ROWS}.`);
  console.log('dX: Conv2DBackpropInput = conv2dTranspose forward; stock is the wasm scalar kernel.');
}

/** One layer of the plan as tf ops in training mode (batch statistics), like the trainer runs it. */
function applyLayer(l: LayerPlan, x: tf.Tensor4D, v: Map<string, tf.Variable>): tf.Tensor4D {
  const w = v.get(`${l.name}.w`)! as tf.Variable<tf.Rank.R4>;
  let y: tf.Tensor4D;
  if (l.kind === 'conv') {
    y = tf.conv2d(x, w, l.stride, l.pad === 0 ? 'valid' : 'same');
  } else {
    const out: [number, number, number, number] = [x.shape[0], l.outSize, l.outSize, l.outChannels];
    y = tf.conv2dTranspose(x, w, out, l.stride, l.pad === 0 ? 'valid' : 'same');
  }
  if (l.batchNorm) {
    const { mean, variance } = tf.moments(y, [0, 1, 2]);
    y = tf.batchNorm(y, mean, variance, v.get(`${l.name}.beta`)!, v.get(`${l.name}.gamma`)!, BN_EPSILON) as tf.Tensor4D;
  }
  if (l.activation === 'lrelu') return tf.leakyRelu(y, LEAKY_ALPHA);
  if (l.activation === 'relu') return tf.relu(y);
  if (l.activation === 'tanh') return tf.tanh(y);
  return y;
}

function makeVars(layers: LayerPlan[]): Map<string, tf.Variable> {
  const v = new Map<string, tf.Variable>();
  for (const l of layers) {
    const shape = l.kind === 'conv'
      ? [l.kernel, l.kernel, l.inChannels, l.outChannels]
      : [l.kernel, l.kernel, l.outChannels, l.inChannels];
    v.set(`${l.name}.w`, tf.variable(tf.randomNormal(shape, 0, 0.02)));
    if (l.batchNorm) {
      v.set(`${l.name}.gamma`, tf.variable(tf.ones([l.outChannels])));
      v.set(`${l.name}.beta`, tf.variable(tf.zeros([l.outChannels])));
    }
  }
  return v;
}

function stackTimes(): void {
  const enc = encoderPlan('GE', cfg, cfg.nz, cfg.ngf).layers;
  const dec = decoderPlan(cfg).layers;
  const ve = makeVars(enc);
  const vd = makeVars(dec);
  const img = tf.randomUniform([batch, cfg.isize, cfg.isize, cfg.nc], -1, 1) as tf.Tensor4D;
  const z = tf.randomNormal([batch, 1, 1, cfg.nz]) as tf.Tensor4D;
  const run = (layers: LayerPlan[], v: Map<string, tf.Variable>, x: tf.Tensor4D) =>
    layers.reduce((h, l) => applyLayer(l, h, v), x);
  const encStep = () => { tf.variableGrads(() => run(enc, ve, img).square().mean() as tf.Scalar); };
  const decStep = () => { tf.variableGrads(() => run(dec, vd, z).square().mean() as tf.Scalar); };
  const gStep = () => {
    // GE → GD → E on one set of weights per net, as the generator step chains them.
    tf.variableGrads(() => {
      const lat = run(enc, ve, img);
      const rec = run(dec, vd, lat);
      return run(enc, ve, rec).sub(lat).square().mean().add(rec.sub(img).abs().mean()) as tf.Scalar;
    });
  };
  const encFwd = () => { run(enc, ve, img); };
  const decFwd = () => { run(dec, vd, z); };
  console.log(`\nNetworks, ms (fastest/median), batch ${batch}`.padEnd(34) + `${fmt('new')}  ${'stock'.padStart(11)}`);
  const rows: [string, () => void][] = [
    ['encoder forward', encFwd], ['decoder forward', decFwd],
    ['encoder forward+backward', encStep], ['decoder forward+backward', decStep],
    ['GE→GD→E forward+backward', gStep],
  ];
  for (const [name, f] of rows) {
    const fresh = time(f);
    unregisterFastWasmKernels();
    let stock: { min: number; med: number } | string;
    try {
      stock = time(f, 2);
    } catch (e) {
      // tfjs leaks the tensors of a backward pass that throws; they stay out of the count below.
      stock = `fails: ${(e as Error).message.slice(0, 60)}`;
    }
    registerFastWasmKernels();
    console.log(`${name.padEnd(34)}${fmt(fresh)}  ${typeof stock === 'string' ? stock : fmt(stock)}`);
  }
  tf.dispose([img, z, ...ve.values(), ...vd.values()]);
}

const sel = await selectBackend('wasm');
console.log(`backend ${sel.name} (${sel.reason}), threads ${sel.threads}`);
const before = tf.memory().numTensors;
kernelTable();
console.log(`tensors before ${before}, after the kernel table ${tf.memory().numTensors}`);
stackTimes();
