// Loads manifest.json and detector.onnx from a folder, a URL or memory, and checks the graph's
// size and sha256 against the manifest before ONNX Runtime sees it.
import type { Manifest } from '../../types.js';
import { IntegrityError, ModelNotFoundError, errorMessage } from './errors.js';
import { DETECTOR_FILE, parseManifest } from './manifest.js';
import type { ModelFiles, RuntimePlatform } from './platform.js';

/**
 * A model folder path (Node), a URL (folder or its manifest.json), the two files' own URLs (what a
 * model package exports, and what bundlers rewrite into hashed asset URLs), or the files in memory.
 */
export type ModelSource = string | URL | ModelUrls | ModelBytes;

export interface ModelUrls {
  /** manifest.json's URL (file:, http(s):, data: or relative to the page once resolved). */
  manifest: URL;
  /** detector.onnx's URL. */
  detector: URL;
}

export interface ModelBytes {
  /** manifest.json as text or parsed JSON. */
  manifest: Manifest | string | Record<string, unknown>;
  /** detector.onnx */
  detector: Uint8Array | ArrayBuffer;
}

export interface LoadedModel {
  manifest: Manifest;
  detector: Uint8Array;
  location: string;
}

export async function loadModel(platform: RuntimePlatform, source: ModelSource, verifyIntegrity: boolean): Promise<LoadedModel> {
  let manifest: Manifest;
  let detector: Uint8Array;
  let location: string;
  if (typeof source === 'string' || source instanceof URL) {
    const files = platform.openModel(source);
    location = files.location;
    manifest = parseManifest(new TextDecoder().decode(await files.read('manifest.json')), `${location}: manifest.json`);
    detector = await files.read(DETECTOR_FILE);
  } else if (typeof source === 'object' && source !== null && 'manifest' in source && 'detector' in source) {
    const m = source.manifest;
    const d = source.detector;
    location = d instanceof URL ? d.href : 'in-memory model';
    manifest = m instanceof URL
      ? parseManifest(new TextDecoder().decode(await readUrl(platform, m)), `${m.href}`)
      : parseManifest(m, 'manifest');
    detector = d instanceof URL ? await readUrl(platform, d) : d instanceof Uint8Array ? d : new Uint8Array(d);
  } else {
    throw new TypeError('model must be a folder path, a URL, { manifest, detector } URLs, or { manifest, detector } bytes');
  }
  if (verifyIntegrity) await verify(platform, manifest, detector, location);
  return { manifest, detector, location };
}

async function verify(platform: RuntimePlatform, manifest: Manifest, bytes: Uint8Array, location: string): Promise<void> {
  const entry = manifest.files[DETECTOR_FILE]!;
  const hint = 're-export or re-download the model (or pass verifyIntegrity: false to skip this check)';
  if (bytes.length !== entry.bytes) {
    throw new IntegrityError(
      DETECTOR_FILE, `${entry.bytes} bytes`, `${bytes.length} bytes`,
      `${location}: ${DETECTOR_FILE} has ${bytes.length} bytes but the manifest says ${entry.bytes} (truncated or replaced file); ${hint}`,
    );
  }
  const actual = await platform.sha256(bytes);
  if (actual.toLowerCase() !== entry.sha256.toLowerCase()) {
    throw new IntegrityError(
      DETECTOR_FILE, entry.sha256, actual,
      `${location}: ${DETECTOR_FILE} sha256 is ${actual} but the manifest says ${entry.sha256} (corrupted or altered file); ${hint}`,
    );
  }
}

/**
 * One model file by its own URL. A file: URL goes through the platform's folder reader (Node);
 * anything else is fetched, so bundler-hashed names and inlined data: URLs work too.
 */
function readUrl(platform: RuntimePlatform, url: URL): Promise<Uint8Array> {
  if (url.protocol === 'file:') {
    const name = decodeURIComponent(url.pathname.slice(url.pathname.lastIndexOf('/') + 1));
    return platform.openModel(new URL('./', url)).read(name);
  }
  return fetchBytes(url);
}

async function fetchBytes(fileUrl: URL): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(fileUrl);
  } catch (e) {
    throw new ModelNotFoundError(`could not fetch ${fileUrl.href}: ${errorMessage(e)}`);
  }
  if (!res.ok) throw new ModelNotFoundError(`could not fetch ${fileUrl.href}: HTTP ${res.status} ${res.statusText}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** A model folder behind http(s), read with fetch (browsers, and Node for URLs). */
export function fetchModelFiles(ref: string | URL, base?: string): ModelFiles {
  let url: URL;
  try {
    url = new URL(ref, base);
  } catch {
    throw new ModelNotFoundError(`model location '${String(ref)}' is not a valid URL`);
  }
  // Accept the folder with or without a trailing slash, or the manifest itself.
  if (url.pathname.endsWith('/manifest.json')) url = new URL('./', url);
  else if (!url.pathname.endsWith('/')) url = new URL(`${url.pathname}/${url.search}`, url);
  const folder = url;
  return {
    location: folder.href,
    read: (name) => fetchBytes(new URL(name, folder)),
  };
}
