// The INT8 detector (conv weights int8 per channel, 25 % of float32's bytes, its own calibration and threshold).
export const manifestUrl = new URL('./manifest.json', import.meta.url);
export const detectorUrl = new URL('./detector.int8.onnx', import.meta.url);
export const model = { manifest: manifestUrl, detector: detectorUrl, precision: 'int8' };
export default model;
