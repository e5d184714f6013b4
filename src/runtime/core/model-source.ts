// Loads manifest.json and detector.onnx from a folder, a URL or memory, and checks the graph's
// size and sha256 against the manifest before ONNX Runtime sees it.
import type { Manifest, Precision } from '../../types.js';
import { InputLimitError, IntegrityError, ManifestError, ModelNotFoundError, errorMessage } from './errors.js';
import { MANIFEST_CORE_METADATA_KEY, manifestCoreSha256, onnxMetadataValue } from './manifest-core.js';
import { MANIFEST_FILE, parseManifest, selectPrecision } from './manifest.js';
import type { ModelFiles, RuntimePlatform } from './platform.js';
import { checkGraph } from './graph-check.js';

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

/** manifest.json is a few KB; anything past this is refused before it is parsed. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/**
 * The largest detector graph loaded (and the cap when its size is not checked against the
 * manifest, verifyIntegrity: false): just under 2 GiB, protobuf's limit for one message, which
 * ONNX Runtime cannot load past anyway.
 */
export const MAX_DETECTOR_BYTES = 2 ** 31 - 1;
/** A model URL that sends nothing for this long (headers or body) is given up. */
export const DEFAULT_FETCH_TIMEOUT_MS = 30_000;

export interface LoadLimits {
  /** Longest silence while fetching a model URL. Default 30 s. */
  fetchTimeoutMs?: number;
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

export async function loadModel(
  platform: RuntimePlatform,
  source: ModelSource,
  verifyIntegrity: boolean,
  limits: LoadLimits = {},
  precision?: Precision,
): Promise<LoadedModel> {
  const timeoutMs = limits.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  let file = '';
  /** The detector's cap: exactly the manifest's size when it is checked, so a bigger file stops there. */
  const detectorCap = (m: Manifest, where: string) => {
    if (!verifyIntegrity) return MAX_DETECTOR_BYTES;
    const declared = m.files[file]!.bytes;
    if (declared > MAX_DETECTOR_BYTES) {
      throw new InputLimitError(`${where}: the manifest says ${file} has ${declared} bytes, more than the ${MAX_DETECTOR_BYTES} a model graph may have (ONNX's 2 GiB limit); nothing was read`, declared);
    }
    return declared;
  };
  const readDetector = async (read: (cap: number) => Promise<Uint8Array>, m: Manifest, where: string) => {
    const cap = detectorCap(m, where);
    try {
      return await read(cap);
    } catch (e) {
      if (verifyIntegrity && e instanceof InputLimitError && e.size !== undefined) {
        const expected = m.files[file]!.bytes;
        throw new IntegrityError(file, `${expected} bytes`, `${e.size} bytes`,
          `${where}: ${file} has ${e.size} bytes (or more) but the manifest says ${expected} (truncated or replaced file); reading stopped there; re-export or re-download the model (or pass verifyIntegrity: false to skip this check)`);
      }
      throw e;
    }
  };
  let manifest: Manifest;
  let detector: Uint8Array;
  let location: string;
  let chosen: Precision;
  if (typeof source === 'string' || source instanceof URL) {
    const files = platform.openModel(source, { timeoutMs });
    location = files.location;
    chosen = resolvePrecision(precision, undefined);
    const origin = `${location}: manifest.json`;
    const parsed = parseManifest(new TextDecoder().decode(await files.read(MANIFEST_FILE, MAX_MANIFEST_BYTES)), origin);
    ({ file, manifest } = selectPrecision(parsed, chosen, origin));
    const m = manifest;
    detector = await readDetector((cap) => files.read(file, cap), m, location);
  } else if (typeof source === 'object' && source !== null && 'manifest' in source && 'detector' in source) {
    const m = source.manifest;
    const d = source.detector;
    location = d instanceof URL ? d.href : 'in-memory model';
    chosen = resolvePrecision(precision, 'precision' in source ? (source as ModelUrls).precision : undefined);
    const origin = m instanceof URL ? m.href : 'manifest';
    const parsed = m instanceof URL
      ? parseManifest(new TextDecoder().decode(await readUrl(platform, m, MAX_MANIFEST_BYTES, timeoutMs)), origin)
      : parseManifest(m, origin);
    ({ file, manifest } = selectPrecision(parsed, chosen, origin));
    const sel = manifest;
    detector = d instanceof URL
      ? await readDetector((cap) => readUrl(platform, d, cap, timeoutMs), sel, d.href)
      : d instanceof Uint8Array ? d : new Uint8Array(d);
  } else {
    throw new TypeError('model must be a folder path, a URL, { manifest, detector } URLs, or { manifest, detector } bytes');
  }
  if (verifyIntegrity) {
    await verify(platform, manifest, detector, location, file);
    verifyCore(manifest, detector, location, file);
  }
  // Whether or not its bytes match the manifest, ONNX Runtime sees only a graph the exporter could have written.
  checkGraph(detector, manifest, file);
  return { manifest, detector, location, precision: chosen, file };
}

/**
 * Export stamps the hash of the manifest core into each graph; a manifest edited afterwards (its
 * preprocessing, input shape, score settings) would score with numbers the graph was not made for.
 * parseManifest validates the JSON object in place and selectPrecision only replaces calibration
 * and threshold, so the core is hashed as it stands in the file. Graphs without the stamp
 * (hand-built ones) are not checked.
 */
function verifyCore(manifest: Manifest, detector: Uint8Array, location: string, file: string): void {
  const stamped = onnxMetadataValue(detector, MANIFEST_CORE_METADATA_KEY);
  if (stamped === undefined) return;
  const actual = manifestCoreSha256(manifest);
  if (actual !== stamped) {
    throw new ManifestError(
      `${location}: manifest.json was changed after export: its core (schemaVersion, name, input, preprocessing, score, model, opset) hashes to ${actual}, but ${file} was exported for ${stamped}; re-export the model or restore its manifest (or pass verifyIntegrity: false to skip this check)`,
    );
  }
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
function readUrl(platform: RuntimePlatform, url: URL, maxBytes: number, timeoutMs: number): Promise<Uint8Array> {
  if (url.protocol === 'file:') {
    const name = decodeURIComponent(url.pathname.slice(url.pathname.lastIndexOf('/') + 1));
    return platform.openModel(new URL('./', url)).read(name, maxBytes);
  }
  return fetchBytes(url, maxBytes, timeoutMs);
}

/**
 * Fetches at most `maxBytes`, giving up when nothing arrives for `timeoutMs` (a server that never
 * answers, or stalls mid-body). A body past the cap (a server streaming forever) is cut off there.
 */
export async function fetchBytes(fileUrl: URL, maxBytes = MAX_DETECTOR_BYTES, timeoutMs = DEFAULT_FETCH_TIMEOUT_MS): Promise<Uint8Array> {
  const ac = new AbortController();
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, timeoutMs);
  };
  const late = () => new InputLimitError(`${fileUrl.href} sent nothing for ${timeoutMs} ms; giving up`);
  arm();
  try {
    let res: Response;
    try {
      res = await fetch(fileUrl, { signal: ac.signal });
    } catch (e) {
      if (timedOut) throw late();
      throw new ModelNotFoundError(`could not fetch ${fileUrl.href}: ${errorMessage(e)}`);
    }
    if (!res.ok) {
      ac.abort();
      throw new ModelNotFoundError(`could not fetch ${fileUrl.href}: HTTP ${res.status} ${res.statusText}`);
    }
    const declared = Number(res.headers.get('content-length') ?? NaN);
    const tooBig = (size: number) => new InputLimitError(`${fileUrl.href} has ${size} bytes or more, more than the limit of ${maxBytes}`, size);
    if (declared > maxBytes) {
      ac.abort();
      throw tooBig(declared);
    }
    if (!res.body) return new Uint8Array(await res.arrayBuffer());
    const reader = res.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    try {
      for (;;) {
        arm();
        const { done, value } = await reader.read();
        if (done) break;
        size += value.length;
        if (size > maxBytes) {
          ac.abort();
          throw tooBig(size);
        }
        chunks.push(value);
      }
    } catch (e) {
      if (timedOut) throw late();
      throw e instanceof InputLimitError ? e : new ModelNotFoundError(`could not fetch ${fileUrl.href}: ${errorMessage(e)}`);
    }
    const out = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  } finally {
    clearTimeout(timer);
  }
}

/** A model folder behind http(s), read with fetch (browsers, and Node for URLs). */
export function fetchModelFiles(ref: string | URL, base?: string, timeoutMs = DEFAULT_FETCH_TIMEOUT_MS): ModelFiles {
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
    read: (name, maxBytes) => {
      // Keep the folder's query string (presigned URLs carry their signature there).
      const file = new URL(name, folder);
      file.search = folder.search;
      return fetchBytes(file, maxBytes, timeoutMs);
    },
  };
}
