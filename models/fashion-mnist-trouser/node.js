// Node adds the folder as a path, for the CLI (`ganomaly score --model <dir>`) and for tools that
// want the files on disk.
import { fileURLToPath } from 'node:url';

export { manifestUrl, detectorUrl, model, default } from './index.js';
export const dir = fileURLToPath(new URL('./', import.meta.url));
export const samplesDir = fileURLToPath(new URL('./samples/', import.meta.url));
