// sha256 of graph files and of the manifest core, with Node's crypto (the browser export uses WebCrypto).
import { createHash } from 'node:crypto';
import type { Manifest } from '../types.js';

export const sha256Hex = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/**
 * The core hash a manifest implies (schemaVersion, name, input, preprocessing, score, model, opset,
 * in manifestCore's order), to compare with the 'ganomaly.manifest_core_sha256' stamped into the
 * graphs at export: a manifest edited after export (preprocessing, shapes) no longer matches.
 */
export function manifestCoreHash(m: Manifest): string {
  const { schemaVersion, name, input, preprocessing, score, model, opset } = m;
  return sha256Hex(JSON.stringify({ schemaVersion, name, input, preprocessing, score, model, opset }));
}
