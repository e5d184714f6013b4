// @ganomaly-edge/browser: train, export and keep a GANomaly model inside a page. No Node modules,
// no sharp, no onnxruntime-node (checked by test/e2e/browser-train.test.ts); the runtime is imported by
// name, so a page that also scores with @ganomaly-edge/runtime's createDetector holds one copy.
export { BROWSER_TRAIN_DEFAULTS } from '../config/train-config.js';
export { trainInBrowser, type BrowserTrainConfig, type BrowserTrainEvent, type BrowserTrainResult, type TrainInBrowserOptions } from './train.js';
export { exportInBrowser, BROWSER_EXPORT_VERSION, type BrowserExport, type ExportInBrowserOptions } from './export.js';
export { selectBrowserBackend, type BrowserBackend, type BrowserBackendOptions, type BrowserBackendRequest } from './backend.js';
export { framesToSets, type FrameInput } from './frames.js';
export { packCheckpoint, unpackCheckpoint } from './checkpoint-bytes.js';
export { saveIdbCheckpoint, loadIdbCheckpoint, deleteIdbCheckpoint, saveCheckpoint, loadCheckpoint, deleteCheckpoint } from './idb.js';
export { zipFiles, crc32 } from './zip.js';
export type { EpochSummary, TrainEvent } from './train.js';
