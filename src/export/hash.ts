// sha256 of graph files and of the manifest core, with Node's crypto (the browser export uses WebCrypto).
import { createHash } from 'node:crypto';

export const sha256Hex = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
