// What the toolkit reads and how much of each: every file goes through the runtime's one bounded
// reader (regular files only, a cap checked before reading, chunked reads), re-exported here so
// train, export, eval and data name one module. The caps of the runtime's own files (manifest,
// graph, images) are the runtime's; these are the toolkit's.
export {
  displayPath,
  isNotFound,
  MAX_DETECTOR_BYTES,
  MAX_IMAGE_FILE_BYTES,
  MAX_MANIFEST_BYTES,
  MAX_READ_BYTES,
  readRegularFile,
  readTextFile,
} from '@ganomaly-edge/runtime/node';
import { MAX_READ_BYTES } from '@ganomaly-edge/runtime/node';

/** A run folder's JSON (config.json, history.json, split.json, checkpoint.json): kilobytes in practice. */
export const MAX_RUN_JSON_BYTES = 64 * 1024 * 1024;

/** A checkpoint's float32 blob (weights, optimiser moments): the most one read may take. */
export const MAX_CHECKPOINT_BYTES = MAX_READ_BYTES;

/** An export lock file: a process id and an operation name. */
export const MAX_LOCK_FILE_BYTES = 4096;
