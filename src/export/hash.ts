// sha256 of graph files with Node's crypto (the browser export uses WebCrypto; the manifest core's
// hash is the runtime's manifestCoreSha256, which the runtime checks at load).
import { createHash } from 'node:crypto';

export const sha256Hex = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
