// sha256 of graph files and of the manifest core, with Node's crypto (the browser export uses WebCrypto).
import { createHash } from 'node:crypto';
import { manifestCoreText } from '@ganomaly-edge/runtime/node';
import type { Manifest } from '../types.js';

export const sha256Hex = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/**
 * The core hash a manifest implies (the runtime's manifestCoreText: schemaVersion, name, input,
 * preprocessing, score, model, opset), to compare with the 'ganomaly.manifest_core_sha256' stamped into the
 * graphs at export: a manifest edited after export (preprocessing, shapes) no longer matches.
 */
export function manifestCoreHash(m: Manifest): string {
  return sha256Hex(manifestCoreText(m as unknown as Record<string, unknown>));
}
