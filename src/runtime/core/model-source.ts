// Loads manifest.json and detector.onnx from a folder, a URL or memory, and checks the graph's
// size and sha256 against the manifest before ONNX Runtime sees it.
import type { Manifest, Precision } from '../../types.js';
import { IntegrityError, ModelNotFoundError, errorMessage } from './errors.js';
import { parseManifest, selectPrecision } from './manifest.js';
import type { ModelFiles, RuntimePlatform } from './platform.js';

/**
 * A model folder path (Node), a URL (folder or its manifest.json), the two files' own URLs (what a
 * model package exports, and what bundlers rewrite into hashed asset URLs), or the files in memory.
 */
export type ModelSource = string | URL | ModelUrls | ModelBytes;

export interface ModelUrls {
  /** manifest.json's URL (file:, http(s):, data: or relative to the page once resolved). */
  manifest: URL;
  /** The detector graph's URL: detector.onnx, or the file of the variant `precision` names. */
  detector: URL;
  /** Which of the manifest's precisions `detector` is (default fp32). */
  precision?: Precision;
}

export interface ModelBytes {
  /** manifest.json as text or parsed JSON. */
  manifest: Manifest | string | Record<string, unknown>;
  /** detector.onnx */
  detector: Uint8Array | ArrayBuffer;
}

export interface LoadedModel {
  /** The manifest, with calibration and threshold of the loaded precision. */
  manifest: Manifest;
  detector: Uint8Array;
  location: string;
  precision: Precision;
  /** The graph file that was loaded (detector.onnx or a variant's). */
  file: string;
}

function resolvePrecision(asked: Precision | undefined, given: Precision | undefined): Precision {
  if (asked !== undefined && given !== undefined && asked !== given) {
    throw new TypeError(`precision '${asked}' was asked for, but the model's detector URL is its ${given} variant`);
  }
  return asked ?? given ?? 'fp32';
}

export async function loadModel(platform: RuntimePlatform, source: ModelSource, verifyIntegrity: boolean, precision?: Precision): Promise<LoadedModel> {
  let manifest: Manifest;
  let detector: Uint8Array;
  let location: string;
  let file: string;
  let chosen: Precision;
  if (typeof source === 'string' || source instanceof URL) {
    const files = platform.openModel(source);
    location = files.location;
    chosen = resolvePrecision(precision, undefined);
    const origin = `${location}: manifest.json`;
    ({ file, manifest } = selectPrecision(parseManifest(new TextDecoder().decode(await files.read('manifest.json')), origin), chosen, origin));
    detector = await files.read(file);
  } else if (typeof source === 'object' && source !== null && 'manifest' in source && 'detector' in source) {
    const m = source.manifest;
    const d = source.detector;
    location = d instanceof URL ? d.href : 'in-memory model';
    chosen = resolvePrecision(precision, 'precision' in source ? (source as ModelUrls).precision : undefined);
    const origin = m instanceof URL ? m.href : 'manifest';
    const parsed = m instanceof URL ? parseManifest(new TextDecoder().decode(await readUrl(platform, m)), origin) : parseManifest(m, origin);
    ({ file, manifest } = selectPrecision(parsed, chosen, origin));
    detector = d instanceof URL ? await readUrl(platform, d) : d instanceof Uint8Array ? d : new Uint8Array(d);
  } else {
    throw new TypeError('model must be a folder path, a URL, { manifest, detector } URLs, or { manifest, detector } bytes');
  }
  if (verifyIntegrity) await verify(platform, manifest, detector, location, file);
  return { manifest, detector, location, precision: chosen, file };
}

async function verify(platform: RuntimePlatform, manifest: Manifest, bytes: Uint8Array, location: string, file: string): Promise<void> {
  const entry = manifest.files[file]!;
  const hint = 're-export or re-download the model (or pass verifyIntegrity: false to skip this check)';
  if (bytes.length !== entry.bytes) {
    throw new IntegrityError(
      file, `${entry.bytes} bytes`, `${bytes.length} bytes`,
      `${location}: ${file} has ${bytes.length} bytes but the manifest says ${entry.bytes} (truncated or replaced file); ${hint}`,
    );
  }
  const actual = await platform.sha256(bytes);
  if (actual.toLowerCase() !== entry.sha256.toLowerCase()) {
    throw new IntegrityError(
      file, entry.sha256, actual,
      `${location}: ${file} sha256 is ${actual} but the manifest says ${entry.sha256} (corrupted or altered file); ${hint}`,
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
