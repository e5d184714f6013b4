// The demo page's module: load a model folder, score an uploaded image or webcam frames, draw the
// reconstruction and the anomaly map. Imports the published package, as an app does (the demo
// server bundles it from node_modules: run `npm run build` first).
import {
  anomalyMapToPixels,
  createDetector,
  cutFrameTiles,
  reconstructionToPixels,
  type RawPixels,
  type ScoreResult,
  type WebDetector,
  type WebDetectorOptions,
  type WebImageInput,
} from '@ganomaly-edge/runtime';
import { drawScaled, pixelsCanvas } from '../shared/draw.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  modelUrl: $<HTMLInputElement>('model-url'),
  providers: $<HTMLSelectElement>('providers'),
  load: $<HTMLButtonElement>('load'),
  status: $<HTMLDivElement>('status'),
  file: $<HTMLInputElement>('file'),
  webcam: $<HTMLButtonElement>('webcam'),
  stop: $<HTMLButtonElement>('stop'),
  video: $<HTMLVideoElement>('video'),
  inputView: $<HTMLCanvasElement>('input-view'),
  reconView: $<HTMLCanvasElement>('recon-view'),
  heatView: $<HTMLCanvasElement>('heat-view'),
};

interface DemoState {
  detector: WebDetector | null;
  lastResult: (ScoreResult & { source: string; ms: number }) | null;
  error: string | null;
}
// Exposed for the browser console (and the browser test): window.ganomaly.createDetector(...)
const state: DemoState = { detector: null, lastResult: null, error: null };
Object.assign(window, { ganomaly: { createDetector, cutFrameTiles, state } });

function setStatus(text: string, isError = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', isError);
  if (isError) state.error = text;
}

/** Draws 8-bit pixels (1, 3 or 4 channels) scaled to fill a canvas. */
function drawPixels(canvas: HTMLCanvasElement, img: RawPixels): void {
  drawScaled(canvas, pixelsCanvas(img));
}

function showResult(r: ScoreResult, ms: number): void {
  $('score').textContent = r.score.toExponential(4);
  $('normalized').textContent = r.normalized.toFixed(4);
  $('threshold').textContent = r.threshold.toExponential(4);
  const verdict = $('verdict');
  verdict.textContent = r.isAnomaly ? 'ANOMALY' : 'normal';
  verdict.className = r.isAnomaly ? 'anomaly' : 'normal';
  $('latency').textContent = `${ms.toFixed(1)} ms (${state.detector?.provider})`;
  if (r.reconstruction) drawPixels(ui.reconView, reconstructionToPixels(r.reconstruction, state.detector!.manifest.preprocessing));
  if (r.anomalyMap) drawPixels(ui.heatView, anomalyMapToPixels(r.anomalyMap));
}

async function scoreAndShow(input: WebImageInput, source: string): Promise<void> {
  const detector = state.detector;
  if (!detector) return;
  const t0 = performance.now();
  const r = await detector.score(input, { outputs: ['reconstruction', 'anomalyMap'] });
  const ms = performance.now() - t0;
  state.lastResult = { ...r, source, ms };
  showResult(r, ms);
}

async function loadModel(): Promise<void> {
  ui.load.disabled = true;
  setStatus('Loading…');
  try {
    await state.detector?.dispose();
    state.detector = null;
    const options: WebDetectorOptions = {
      model: ui.modelUrl.value,
      executionProviders: ui.providers.value.split(','),
      precision: precision(),
      logger: { warn: (m) => console.warn(m) },
    };
    const t0 = performance.now();
    const d = await createDetector(options);
    state.detector = d;
    const m = d.manifest;
    setStatus(
      `${m.name}: ${m.model.isize}×${m.model.isize}×${m.model.nc}, nz ${m.model.nz}, threshold ${d.threshold.toExponential(3)}\n` +
        `provider ${d.provider}, ${d.precision}, loaded in ${(performance.now() - t0).toFixed(0)} ms` +
        `${crossOriginIsolated ? '' : ' (page not cross-origin isolated: WASM runs single-threaded)'}`,
    );
    ui.file.disabled = false;
    ui.webcam.disabled = false;
  } catch (e) {
    setStatus(`${(e as Error).name}: ${(e as Error).message}`, true);
  } finally {
    ui.load.disabled = false;
  }
}

ui.load.addEventListener('click', () => void loadModel());

ui.file.addEventListener('change', async () => {
  const file = ui.file.files?.[0];
  if (!file) return;
  try {
    const bitmap = await createImageBitmap(file);
    drawScaled(ui.inputView, bitmap);
    bitmap.close();
    await scoreAndShow(file, `file:${file.name}`);
  } catch (e) {
    setStatus(`${(e as Error).name}: ${(e as Error).message}`, true);
  }
});

let webcamRunning = false;

async function webcamLoop(): Promise<void> {
  while (webcamRunning) {
    drawScaled(ui.inputView, ui.video);
    // One frame at a time: the next frame is taken only after the previous result is drawn.
    await scoreAndShow(ui.video, 'webcam');
    await new Promise((r) => requestAnimationFrame(r));
  }
}

ui.webcam.addEventListener('click', async () => {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
    ui.video.srcObject = stream;
    await ui.video.play();
    webcamRunning = true;
    ui.webcam.disabled = true;
    ui.stop.disabled = false;
    await webcamLoop();
  } catch (e) {
    webcamRunning = false;
    setStatus(`webcam: ${(e as Error).name}: ${(e as Error).message}`, true);
  }
});

ui.stop.addEventListener('click', () => {
  webcamRunning = false;
  (ui.video.srcObject as MediaStream | null)?.getTracks().forEach((t) => t.stop());
  ui.video.srcObject = null;
  ui.webcam.disabled = false;
  ui.stop.disabled = true;
});

// ?model=<url>&providers=wasm&precision=int8&autoload=1 preselects and loads, for links and tests.
const params = new URLSearchParams(location.search);
function precision(): WebDetectorOptions['precision'] {
  const p = params.get('precision');
  return p === 'fp16' || p === 'int8' || p === 'fp32' ? p : undefined;
}
if (params.get('model')) ui.modelUrl.value = params.get('model')!;
if (params.get('providers')) {
  const value = params.get('providers')!;
  if (![...ui.providers.options].some((o) => o.value === value)) ui.providers.add(new Option(value, value));
  ui.providers.value = value;
}
if (params.get('autoload') === '1') void loadModel();
