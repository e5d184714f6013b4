// `ganomaly score`: scores image files with an exported model folder. Anomalies are results, not
// failures: the exit code is 0 unless something could not be scored.
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { basename, extname, join, relative } from 'node:path';
import {
  ChannelMismatchError,
  createDetector,
  decodeMemoryBytes,
  ImageDecodeError,
  imageExtensions,
  InvalidImageError,
  readImageInfo,
  renderHeatmapPng,
  type NodeDetector,
  type ScoreResult,
} from '@ganomaly-edge/runtime/node';
import { displayWidth, executionProvidersOption, parseCommandArgs, precisionOption, printable, progressLine, rangedOption, UsageError } from '../cli-args.js';
import { SCORE_RANGES } from '../option-ranges.js';

const HELP = `Usage: ganomaly score --model <model dir> <image|dir>... [options]

Scores images (PNG, JPEG, WebP, GIF, TIFF, AVIF; folders are searched recursively) with an
exported model. Prints a table (path, score, normalised score, verdict) or JSON lines. The
normalised score is (score − calibration.min)/(calibration.max − calibration.min) clipped to
[0, 1]; an image is an anomaly when its score is above the threshold. Exit code 0 even when
anomalies are found; 1 if any image could not be scored; 2 on bad usage.

Options:
  -m, --model <dir|url>     model folder (manifest.json + detector.onnx), required
  --execution-providers <list>
                            ONNX Runtime execution providers to try in order (default cuda,cpu)
  --providers <list>        deprecated: the old name of --execution-providers
  --threshold <x>           raw-score threshold (default: the manifest's)
  --batch-size <n>          images per ONNX Runtime run (default 16)
  --max-decoded <size>      most decode memory held at once, e.g. 256mb (default 256mb): images
                            are read in runs that fit (what each decode takes, from its header)
  --json                    one JSON object per line instead of a table
  --heatmap <dir>           write <name>.heatmap.png per image (anomaly map, colour-mapped)
  --side-by-side            heatmaps show input | reconstruction | map
  --heatmap-size <px>       heatmap panel size (default 256)
  --precision <p>           fp32 (detector.onnx, default), fp16 or int8: the model's variant
                            of that precision, with its own calibration and threshold
  --skip-integrity          do not check detector.onnx against the manifest's sha256
  -q, --quiet               no progress or summary on stderr
  -h, --help                show this help`;

const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(imageExtensions());

interface ImageFile {
  path: string;
  /** Name relative to the argument it came from, for heatmap file names. */
  name: string;
}

async function walk(dir: string, root: string, out: ImageFile[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await walk(p, root, out);
    else if (e.isFile() && IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase())) out.push({ path: p, name: relative(root, p) });
    else if (e.isSymbolicLink() && IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase())) {
      process.stderr.write(`ganomaly: skipping symbolic link ${printable(p)} (links inside a folder are not followed; pass the file itself)\n`);
    }
  }
}

async function collectImages(args: string[]): Promise<ImageFile[]> {
  const files: ImageFile[] = [];
  for (const arg of args) {
    const s = await stat(arg).catch(() => null);
    if (!s) throw new UsageError(`no such file or folder: ${printable(arg)}`);
    if (s.isDirectory()) {
      const before = files.length;
      await walk(arg, arg, files);
      if (files.length === before) throw new UsageError(`no images (${[...IMAGE_EXTENSIONS].join(' ')}) in ${printable(arg)}`);
    } else files.push({ path: arg, name: basename(arg) });
  }
  return files;
}

type Outcome = { file: ImageFile; result: ScoreResult } | { file: ImageFile; error: Error };

const isImageError = (e: unknown): e is Error =>
  e instanceof ImageDecodeError || e instanceof InvalidImageError || e instanceof ChannelMismatchError;

/** Scores a chunk in one call; if one image is bad, scores the rest one by one to isolate it. */
async function scoreChunk(detector: NodeDetector, chunk: ImageFile[], outputs: ('reconstruction' | 'anomalyMap')[]): Promise<Outcome[]> {
  try {
    const results = await detector.score(chunk.map((f) => f.path), { outputs });
    return chunk.map((file, i) => ({ file, result: results[i]! }));
  } catch (e) {
    if (!isImageError(e)) throw e;
  }
  const out: Outcome[] = [];
  for (const file of chunk) {
    try {
      out.push({ file, result: await detector.score(file.path, { outputs }) });
    } catch (e) {
      if (!isImageError(e)) throw e;
      out.push({ file, error: new Error(e.message.replace(/ \(image \d+\)$/, '')) });
    }
  }
  return out;
}

/** Bytes decoding an image file holds at its peak, from its header (nothing decoded). 0 when unreadable: the scoring reports why. */
async function decodedBytes(path: string): Promise<number> {
  try {
    if (!(await stat(path)).isFile()) return 0; // a FIFO or device: the decoder refuses it without opening it
    return decodeMemoryBytes(await readImageInfo(path, false));
  } catch {
    return 0;
  }
}

/**
 * Splits files into runs of at most `batchSize` whose decoded pixels fit `budget` bytes together
 * (an image bigger than the budget runs alone), so small files that decode to huge images cannot
 * be decoded batch-size wide.
 */
export async function* planRuns(files: ImageFile[], batchSize: number, budget: number): AsyncGenerator<ImageFile[]> {
  // Lazily, run by run: a big folder starts scoring at once instead of after reading every header.
  let run: ImageFile[] = [];
  let bytes = 0;
  for (const f of files) {
    const b = await decodedBytes(f.path);
    if (run.length > 0 && (run.length >= batchSize || bytes + b > budget)) {
      yield run;
      run = [];
      bytes = 0;
    }
    run.push(f);
    bytes += b;
  }
  if (run.length > 0) yield run;
}

function heatmapName(file: ImageFile, used: Set<string>): string {
  const stem = file.name.slice(0, file.name.length - extname(file.name).length).replace(/[\\/]/g, '__');
  let name = `${stem}.heatmap.png`;
  for (let i = 2; used.has(name); i++) name = `${stem}-${i}.heatmap.png`;
  used.add(name);
  return name;
}

function formatRow(o: Outcome, pathWidth: number, json: boolean): string {
  if (json) {
    if ('error' in o) return JSON.stringify({ path: o.file.path, error: o.error.message });
    const { score, normalized, isAnomaly, threshold, worstTile } = o.result;
    return JSON.stringify({ path: o.file.path, score, normalized, isAnomaly, threshold, ...(worstTile ? { worstTile } : {}) });
  }
  const shown = printable(o.file.path);
  const path = shown + ' '.repeat(Math.max(0, pathWidth - displayWidth(shown)));
  if ('error' in o) return `${path}  ${'-'.padStart(12)}  ${'-'.padStart(10)}  error: ${printable(o.error.message)}`;
  const { score, normalized, isAnomaly } = o.result;
  const { worstTile: w } = o.result;
  const where = w ? `  worst tile ${w.box.width}x${w.box.height} at ${w.box.x},${w.box.y}` : '';
  return `${path}  ${score.toExponential(4).padStart(12)}  ${normalized.toFixed(4).padStart(10)}  ${isAnomaly ? 'ANOMALY' : 'normal'}${where}`;
}

export async function run(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseCommandArgs(argv, {
    model: { type: 'string', short: 'm' },
    'execution-providers': { type: 'string' },
    providers: { type: 'string' },
    threshold: { type: 'string' },
    'batch-size': { type: 'string' },
    'max-decoded': { type: 'string' },
    json: { type: 'boolean' },
    heatmap: { type: 'string' },
    'side-by-side': { type: 'boolean' },
    'heatmap-size': { type: 'string' },
    'skip-integrity': { type: 'boolean' },
    precision: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
  });
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (!v.model) throw new UsageError('--model <model dir> is required (ganomaly score --model <dir> <image|dir>...)');
  if (positionals.length === 0) throw new UsageError('give at least one image or folder to score');
  // Every number against its range in the table (option-ranges.ts), before the model loads.
  const R = SCORE_RANGES;
  const batchSize = rangedOption(v['batch-size'], R.batchSize) ?? 16;
  const heatmapSize = rangedOption(v['heatmap-size'], R.heatmapSize) ?? 256;
  const maxDecoded = rangedOption(v['max-decoded'], R.maxDecoded) ?? 256 * 1024 * 1024;
  const threshold = rangedOption(v.threshold, R.threshold);
  const executionProviders = executionProvidersOption(v['execution-providers'], v.providers, 'providers');
  if (v['side-by-side'] && !v.heatmap) throw new UsageError('--side-by-side needs --heatmap <dir>');
  const files = await collectImages(positionals);

  const detector = await createDetector({
    model: v.model,
    executionProviders,
    threshold,
    maxBatch: batchSize,
    verifyIntegrity: !v['skip-integrity'],
    precision: precisionOption(v.precision),
    // -q: nothing on stderr, the execution-provider fallback line included.
    logger: v.quiet ? null : { warn: (m) => process.stderr.write(`${m}\n`) },
  });
  try {
    if (v.heatmap) await mkdir(v.heatmap, { recursive: true });
    const outputs: ('reconstruction' | 'anomalyMap')[] = v.heatmap ? (v['side-by-side'] ? ['anomalyMap', 'reconstruction'] : ['anomalyMap']) : [];
    // The widest name sets the column, so every row lines up whatever the path lengths.
    const pathWidth = files.reduce((w, f) => Math.max(w, displayWidth(printable(f.path))), 4);
    const json = Boolean(v.json);
    if (!json) process.stdout.write(`${'path'.padEnd(pathWidth)}  ${'score'.padStart(12)}  ${'normalized'.padStart(10)}  verdict\n`);
    const bar = v.quiet || files.length <= batchSize ? null : progressLine('scoring');
    const usedNames = new Set<string>();
    let anomalies = 0;
    let errors = 0;
    const start = performance.now();
    let done = 0;
    for await (const chunk of planRuns(files, batchSize, maxDecoded)) {
      const outcomes = await scoreChunk(detector, chunk, outputs);
      for (const o of outcomes) {
        if ('error' in o) errors++;
        else {
          if (o.result.isAnomaly) anomalies++;
          if (v.heatmap) {
            const png = await renderHeatmapPng(o.result, {
              size: heatmapSize,
              ...(v['side-by-side'] ? { input: o.file.path, preprocessing: detector.manifest.preprocessing } : {}),
            });
            await writeFile(join(v.heatmap, heatmapName(o.file, usedNames)), png);
          }
        }
        process.stdout.write(`${formatRow(o, pathWidth, json)}\n`);
      }
      done += chunk.length;
      bar?.update(done, files.length);
    }
    bar?.end();
    if (!v.quiet) {
      const ms = (performance.now() - start) / files.length;
      process.stderr.write(
        `${files.length} image(s): ${anomalies} anomal${anomalies === 1 ? 'y' : 'ies'}, ${errors} error(s); ` +
          `threshold ${detector.threshold.toExponential(4)}, provider ${detector.provider}, ${ms.toFixed(1)} ms/image\n`,
      );
    }
    return errors > 0 ? 1 : 0;
  } finally {
    await detector.dispose();
  }
}
