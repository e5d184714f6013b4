// The FP16 detector (conv weights float16, 50 % of float32's bytes, its own calibration and threshold).
export const manifestUrl = new URL('./manifest.json', import.meta.url);
export const detectorUrl = new URL('./detector.fp16.onnx', import.meta.url);
export const model = { manifest: manifestUrl, detector: detectorUrl, precision: 'fp16' };
export default model;
