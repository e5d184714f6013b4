/** manifest.json of this model (shared by every precision). */
export declare const manifestUrl: URL;
/** This precision's detector graph. */
export declare const detectorUrl: URL;
/** What createDetector({ model }) takes; `precision` tells the runtime which calibration applies. */
export declare const model: { manifest: URL; detector: URL; precision: 'fp16' | 'int8' };
export default model;
