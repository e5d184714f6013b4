/** manifest.json of this model (preprocessing, calibration, threshold, sha256 of detector.onnx). */
export declare const manifestUrl: URL;
/** detector.onnx: x → score, z, z_hat, x_hat, anomaly_map. */
export declare const detectorUrl: URL;
/** What createDetector({ model }) takes. */
export declare const model: { manifest: URL; detector: URL; precision: 'fp32' };
export default model;
