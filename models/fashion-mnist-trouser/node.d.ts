export { manifestUrl, detectorUrl, model, default } from './index.js';
/** This package's folder on disk (holds manifest.json and detector.onnx). */
export declare const dir: string;
/** samples/: ten test-split images (6 normal, 4 Trouser), named normal-… / abnormal-…. */
export declare const samplesDir: string;
