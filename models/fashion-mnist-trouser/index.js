// The model's two runtime files by URL. Written as `new URL('…', import.meta.url)` so Vite, webpack
// and Parcel emit them as assets of the page; in Node they are file: URLs inside this package.
// Pass `model` to createDetector({ model }) from @ganomaly-edge/runtime.
export const manifestUrl = new URL('./manifest.json', import.meta.url);
export const detectorUrl = new URL('./detector.onnx', import.meta.url);
export const model = { manifest: manifestUrl, detector: detectorUrl, precision: 'fp32' };
export default model;
