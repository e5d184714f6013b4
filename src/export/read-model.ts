// Reading an exported model folder back (quantize, triton): manifest.json and detector.onnx through
// the bounded reader, the graph capped at the size its manifest gives and checked against its
// sha256, so a FIFO, /dev/zero or a swapped file is an ExportError before any work.
import path from 'node:path';
import { DETECTOR_FILE, InputLimitError, MANIFEST_FILE, parseManifest } from '@ganomaly-edge/runtime/node';
import { displayPath, MAX_DETECTOR_BYTES, MAX_MANIFEST_BYTES, readRegularFile, readTextFile } from '../io/read.js';
import type { Manifest } from '../types.js';
import { ExportError } from './errors.js';
import { sha256Hex } from './hash.js';

const errorMessage = (e: unknown) => (e instanceof Error ? e.message : String(e));

export interface ExportedModel {
  /** manifest.json as it is on disk. */
  manifestText: string;
  manifest: Manifest;
  /** detector.onnx, its size and sha256 matching the manifest. */
  detector: Uint8Array;
}

/**
 * Reads `dir`'s manifest and fp32 detector. `shownDir` names the folder in messages (quantize reads
 * a staged copy but reports the folder the user named).
 */
export async function readExportedModel(dir: string, shownDir = dir): Promise<ExportedModel> {
  const manifestPath = displayPath(path.join(shownDir, MANIFEST_FILE));
  const detectorPath = displayPath(path.join(shownDir, DETECTOR_FILE));
  const manifestText = await readTextFile(path.join(dir, MANIFEST_FILE), MAX_MANIFEST_BYTES, MANIFEST_FILE).catch((e: unknown) => {
    throw new ExportError(`cannot read ${manifestPath}: ${errorMessage(e)}`);
  });
  let manifest: Manifest;
  try {
    // The runtime's own checks: schemaVersion, shapes, files.
    manifest = parseManifest(manifestText, manifestPath);
  } catch (e) {
    throw new ExportError(errorMessage(e));
  }
  const entry = manifest.files[DETECTOR_FILE]!;
  if (entry.bytes > MAX_DETECTOR_BYTES) {
    throw new ExportError(`${manifestPath} says ${DETECTOR_FILE} has ${entry.bytes} bytes, more than the ${MAX_DETECTOR_BYTES} a model graph may have (ONNX's 2 GiB limit)`);
  }
  // Capped at the manifest's size: a bigger file is refused at once, not read and then hashed.
  const detector = await readRegularFile(path.join(dir, DETECTOR_FILE), entry.bytes, DETECTOR_FILE).catch((e: unknown) => {
    if (e instanceof InputLimitError && e.size !== undefined) {
      throw new ExportError(`${detectorPath} has ${e.size} bytes but the manifest says ${entry.bytes} (not read): re-export the model`);
    }
    throw new ExportError(`cannot read ${detectorPath}: ${errorMessage(e)}`);
  });
  if (detector.length !== entry.bytes) {
    throw new ExportError(`${detectorPath} has ${detector.length} bytes but the manifest says ${entry.bytes}: re-export the model`);
  }
  const actual = sha256Hex(detector);
  if (actual !== entry.sha256) throw new ExportError(`${detectorPath} sha256 ${actual} differs from the manifest's ${entry.sha256}: re-export the model`);
  return { manifestText, manifest, detector };
}
