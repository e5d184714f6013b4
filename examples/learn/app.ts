// "Learn normal": record frames (webcam or dropped images) → trainInBrowser → exportInBrowser →
// score the live camera with the web runtime; "Download model" saves the exported folder as a zip
// that `ganomaly score --model` and the gateway runtime load unchanged. Imports the published
// packages, as an app does (the demo server bundles them from node_modules: `npm run build` first).
import { exportInBrowser, trainInBrowser, type BrowserExport, type BrowserTrainEvent } from '@ganomaly-edge/browser';
import { anomalyMapToPixels, createDetector, reconstructionToPixels, type RawPixels, type WebDetector } from '@ganomaly-edge/runtime';
import { drawScaled, pixelsCanvas } from '../shared/draw.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  video: $<HTMLVideoElement>('video'), camera: $<HTMLButtonElement>('camera'), grab: $<HTMLButtonElement>('grab'),
  nFrames: $<HTMLInputElement>('n-frames'), files: $<HTMLInputElement>('files'), count: $<HTMLDivElement>('count'), strip: $<HTMLDivElement>('strip'),
  train: $<HTMLFieldSetElement>('train'), isize: $<HTMLSelectElement>('isize'), ngf: $<HTMLSelectElement>('ngf'),
  epochs: $<HTMLInputElement>('epochs'), batch: $<HTMLInputElement>('batch'), start: $<HTMLButtonElement>('start'), stop: $<HTMLButtonElement>('stop'),
  progress: $<HTMLProgressElement>('progress'), trainStatus: $<HTMLDivElement>('train-status'),
  score: $<HTMLFieldSetElement>('score'), inputView: $<HTMLCanvasElement>('input-view'), reconView: $<HTMLCanvasElement>('recon-view'),
  heatView: $<HTMLCanvasElement>('heat-view'), verdict: $<HTMLSpanElement>('verdict'), scoreStatus: $<HTMLDivElement>('score-status'),
  download: $<HTMLButtonElement>('download'),
};

/** Frames are stored small (side × side RGBA): the model input is 32 or 64 px anyway. */
const STORE_SIDE = 64;
const state = {
  frames: [] as ImageData[],
  stage: 'record' as 'record' | 'training' | 'exporting' | 'scoring',
  progress: null as null | { step: number; steps: number; epoch: number; epochs: number; imagesPerSec: number; errG: number; errD: number; etaSec: number },
  exported: null as BrowserExport | null,
  detector: null as WebDetector | null,
  last: null as null | { score: number; isAnomaly: boolean; frames: number },
  error: null as string | null,
  trainSeconds: 0,
};
Object.assign(window, { learn: state });

function fail(e: unknown): void {
  state.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  ui.trainStatus.textContent = state.error;
  ui.trainStatus.classList.add('error');
}

function shrink(source: CanvasImageSource, w: number, h: number): ImageData {
  const c = new OffscreenCanvas(STORE_SIDE, STORE_SIDE);
  const ctx = c.getContext('2d')!;
  // Centre square crop, as the preview shows it.
  const s = Math.min(w, h);
  ctx.drawImage(source, (w - s) / 2, (h - s) / 2, s, s, 0, 0, STORE_SIDE, STORE_SIDE);
  return ctx.getImageData(0, 0, STORE_SIDE, STORE_SIDE);
}

function addFrame(img: ImageData): void {
  state.frames.push(img);
  ui.count.textContent = `${state.frames.length} frames`;
  if (ui.strip.children.length < 64) {
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    c.getContext('2d')!.putImageData(img, 0, 0);
    ui.strip.append(c);
  }
  ui.train.disabled = state.frames.length < 8;
}

ui.camera.onclick = async () => {
  try {
    ui.video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 } });
    await ui.video.play();
    ui.grab.disabled = false;
  } catch (e) {
    fail(e);
  }
};

ui.grab.onclick = async () => {
  ui.grab.disabled = true;
  const n = Number(ui.nFrames.value);
  for (let i = 0; i < n; i++) {
    addFrame(shrink(ui.video, ui.video.videoWidth, ui.video.videoHeight));
    await new Promise((r) => setTimeout(r, 30));
  }
  ui.grab.disabled = false;
};

ui.files.onchange = async () => {
  for (const f of Array.from(ui.files.files ?? [])) {
    const bmp = await createImageBitmap(f);
    addFrame(shrink(bmp, bmp.width, bmp.height));
    bmp.close();
  }
};

let abort: AbortController | null = null;
ui.stop.onclick = () => abort?.abort();

ui.start.onclick = async () => {
  state.stage = 'training';
  ui.start.disabled = true;
  ui.stop.disabled = false;
  abort = new AbortController();
  const t0 = performance.now();
  try {
    const epochs = Number(ui.epochs.value);
    const result = await trainInBrowser({
      images: state.frames,
      config: { epochs, batchSize: Number(ui.batch.value), model: { isize: Number(ui.isize.value), nc: 1, ngf: Number(ui.ngf.value), ndf: Number(ui.ngf.value) } },
      signal: abort.signal,
      tfjsWasmPaths: new URL('./', location.href).href,
      onProgress: (e: BrowserTrainEvent) => {
        if (e.kind === 'start') ui.trainStatus.textContent = `backend ${e.backend} (${e.backendReason}); ${e.split.trainNormal} training + ${e.split.validationNormal} validation frames`;
        if (e.kind !== 'step') return;
        const done = (e.epoch - 1) * e.steps + e.step;
        const total = e.epochs * e.steps;
        const now = performance.now();
        const etaSec = ((now - t0) / 1000 / done) * (total - done);
        state.progress = { step: e.step, steps: e.steps, epoch: e.epoch, epochs: e.epochs, imagesPerSec: e.imagesPerSec, errG: e.losses.errG, errD: e.losses.errD, etaSec };
        ui.progress.value = done / total;
        ui.trainStatus.textContent =
          `epoch ${e.epoch}/${e.epochs}, step ${e.step}/${e.steps}  ·  ${e.imagesPerSec.toFixed(0)} images/s  ·  ` +
          `errG ${e.losses.errG.toFixed(3)}  errD ${e.losses.errD.toFixed(3)}  ·  ETA ${etaSec.toFixed(0)} s`;
      },
    });
    state.trainSeconds = (performance.now() - t0) / 1000;
    state.stage = 'exporting';
    ui.trainStatus.textContent += `\ntrained in ${state.trainSeconds.toFixed(1)} s${result.stopped ? ' (stopped)' : ''}; exporting to ONNX…`;
    state.exported = await exportInBrowser(result, { name: 'learned-normal', onProgress: (e) => { ui.scoreStatus.textContent = e.stage; } });
    const m = state.exported.manifest;
    state.detector = await createDetector({
      model: { manifest: m, detector: state.exported.files['detector.onnx']! },
      executionProviders: ['wasm'],
    });
    ui.trainStatus.textContent += ` done: threshold ${m.threshold.value.toExponential(3)} (${m.threshold.rule})`;
    state.stage = 'scoring';
    ui.score.disabled = false;
    ui.download.disabled = false;
    void scoreLoop();
  } catch (e) {
    fail(e);
  } finally {
    ui.stop.disabled = true;
  }
};

function draw(canvas: HTMLCanvasElement, img: RawPixels): void {
  drawScaled(canvas, pixelsCanvas(img), false);
}

async function scoreLoop(): Promise<void> {
  const d = state.detector!;
  let n = 0;
  while (state.stage === 'scoring') {
    const source: CanvasImageSource | null = ui.video.srcObject ? ui.video : null;
    const frame = source ? shrink(ui.video, ui.video.videoWidth, ui.video.videoHeight) : state.frames[n % state.frames.length]!;
    const r = await d.score(frame, { outputs: ['reconstruction', 'anomalyMap'] });
    n++;
    ui.inputView.getContext('2d')!.drawImage(await createImageBitmap(frame), 0, 0, 128, 128);
    draw(ui.reconView, reconstructionToPixels(r.reconstruction!, d.manifest.preprocessing));
    draw(ui.heatView, anomalyMapToPixels(r.anomalyMap!));
    ui.verdict.textContent = r.isAnomaly ? 'ANOMALY' : 'normal';
    ui.verdict.className = r.isAnomaly ? 'anomaly' : 'normal';
    ui.scoreStatus.textContent = `score ${r.score.toExponential(3)} (normalised ${r.normalized.toFixed(3)}), threshold ${r.threshold.toExponential(3)}\n${n} frames scored`;
    state.last = { score: r.score, isAnomaly: r.isAnomaly, frames: n };
    await new Promise((res) => setTimeout(res, 100));
  }
}

ui.download.onclick = () => {
  if (!state.exported) return;
  const blob = new Blob([state.exported.zip('learned-normal') as Uint8Array<ArrayBuffer>], { type: 'application/zip' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = 'learned-normal.zip';
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
};

// ?frames=N&epochs=E&ngf=K&batch=B preset the controls (links and tests).
const params = new URLSearchParams(location.search);
for (const [key, el] of [['frames', ui.nFrames], ['epochs', ui.epochs], ['batch', ui.batch]] as const) if (params.get(key)) el.value = params.get(key)!;
if (params.get('ngf')) ui.ngf.value = params.get('ngf')!;
if (params.get('isize')) ui.isize.value = params.get('isize')!;
