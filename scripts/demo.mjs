#!/usr/bin/env node
// `npm run demo`: scores the sample images that ship next to the prebuilt model
// (models/<name>/samples/*.png) with the Node runtime, prints a table, and writes side-by-side
// heatmaps (input | reconstruction | anomaly map) plus a small HTML report.
// Plain JavaScript on purpose: it runs on a fresh clone after `npm ci` with nothing but Node,
// building dist/ first if it is missing.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNTIME = path.join(ROOT, 'packages', 'runtime', 'dist', 'node.js');
const PANEL = 128;

const HELP = `Usage: npm run demo -- [--model <model dir>] [--out <dir>]

Scores <model>/samples/*.png with the ganomaly-edge Node runtime and writes heatmaps and an
HTML report. File names starting with normal- / abnormal- give the expected verdict.
  --model <dir>   exported model folder (default: the model under models/)
  --out <dir>     output folder (default: demo-output)`;

class DemoError extends Error {
  name = 'DemoError';
}

function defaultModel() {
  const dir = path.join(ROOT, 'models');
  const found = existsSync(dir)
    ? readdirSync(dir).filter((d) => existsSync(path.join(dir, d, 'manifest.json'))).sort()
    : [];
  if (found.length === 0) throw new DemoError(`no model folder under ${dir}; pass --model <exported model folder>`);
  return path.join(dir, found[0]);
}

/** Builds dist/ with tsup when it is missing (a fresh clone after `npm ci`). */
function ensureBuilt() {
  if (existsSync(RUNTIME)) return;
  console.log('dist/ is missing: building the package first (npx tsup) …');
  const r = spawnSync('npx', ['tsup'], { cwd: ROOT, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0 || !existsSync(RUNTIME)) throw new DemoError(`the build failed (npx tsup exited ${r.status ?? r.signal}); run \`npm run build\` and retry`);
}

/** 'normal-coat-28.png' → 'normal'; 'abnormal-…' / 'anomaly-…' → 'anomaly'; otherwise unknown. */
function expectedLabel(file) {
  const m = /^(normal|abnormal|anomaly|anomalous)[-_.]/i.exec(file);
  if (!m) return '?';
  return m[1].toLowerCase() === 'normal' ? 'normal' : 'anomaly';
}

/** A path for messages: relative to the working folder when inside it. */
function show(p) {
  const rel = path.relative(process.cwd(), p);
  return rel === '' ? '.' : rel.startsWith('..') || path.isAbsolute(rel) ? p : rel;
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function htmlReport({ manifest, modelDir, provider, threshold, rows, mapMax, msPerImage }) {
  const correct = rows.filter((r) => r.match === true).length;
  const known = rows.filter((r) => r.match !== null).length;
  const trs = rows.map((r) => `
    <tr class="${r.verdict}">
      <td><code>${esc(r.file)}</code></td>
      <td>${esc(r.expected)}</td>
      <td class="num">${r.score.toExponential(4)}</td>
      <td class="num"><span class="bar" style="width:${(r.normalized * 60).toFixed(0)}px"></span> ${r.normalized.toFixed(3)}</td>
      <td><b>${r.verdict === 'anomaly' ? 'ANOMALY' : 'normal'}</b>${r.match === false ? ' ✗' : r.match ? ' ✓' : ''}</td>
      <td><a href="${esc(r.heatmap)}"><img src="${esc(r.heatmap)}" alt="input, reconstruction and anomaly map of ${esc(r.file)}" width="${PANEL * 3}" height="${PANEL}"></a></td>
    </tr>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ganomaly-edge demo: ${esc(manifest.name)}</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
  table { border-collapse: collapse; } td, th { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: left; vertical-align: middle; }
  .num { text-align: right; font-variant-numeric: tabular-nums; } tr.anomaly b { color: #b00; }
  .bar { display: inline-block; height: 8px; background: #c33; vertical-align: middle; }
  img { image-rendering: pixelated; display: block; }
  td { white-space: nowrap; }
</style></head><body>
<h1>ganomaly-edge demo: ${esc(manifest.name)}</h1>
<p>Model <code>${esc(show(modelDir))}</code>: ${manifest.model.isize}×${manifest.model.isize}×${manifest.model.nc}, nz ${manifest.model.nz}, ngf ${manifest.model.ngf};
trained on <code>${esc(manifest.training?.data ?? '?')}</code> with abnormal class ${esc(manifest.split?.abnormalClass ?? manifest.training?.abnormalClass ?? '?')}.
Threshold ${threshold.toExponential(4)} (${esc(manifest.threshold.rule)}); provider <code>${esc(provider)}</code>, ${msPerImage.toFixed(1)} ms/image.</p>
<p>${known > 0 ? `${correct} of ${known} verdicts match the label in the file name.` : ''}
Normalised score = (score − calibration.min) / (calibration.max − calibration.min), clipped to [0, 1].
Images: input | reconstruction | |x − x̂| (colour scale shared by all rows: 0 to ${mapMax.toFixed(3)}).</p>
<table><thead><tr><th>file</th><th>expected</th><th>score</th><th>normalised</th><th>verdict</th><th>input | reconstruction | anomaly map</th></tr></thead>
<tbody>${trs}
</tbody></table>
</body></html>
`;
}

async function main() {
  const { values } = parseArgs({ options: { model: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const modelDir = path.resolve(values.model ?? defaultModel());
  const outDir = path.resolve(values.out ?? 'demo-output');
  const sampleDir = path.join(modelDir, 'samples');
  const files = existsSync(sampleDir)
    ? readdirSync(sampleDir).filter((f) => f.toLowerCase().endsWith('.png')).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    : [];
  if (files.length === 0) {
    throw new DemoError(`no sample images (*.png) in ${sampleDir}; make some with scripts/make-samples.ts (see its header)`);
  }
  ensureBuilt();
  const { createDetector, renderHeatmapPng } = await import(pathToFileURL(RUNTIME).href);

  console.log(`Scoring ${files.length} sample images in ${show(sampleDir)} with the ganomaly-edge Node runtime …`);
  const detector = await createDetector({ model: modelDir, logger: { warn: (m) => console.log(`  (${m})`) } });
  try {
    const { manifest } = detector;
    const paths = files.map((f) => path.join(sampleDir, f));
    const t0 = performance.now();
    const results = await detector.score(paths, { outputs: ['anomalyMap', 'reconstruction'] });
    const msPerImage = (performance.now() - t0) / files.length;

    const rows = files.map((file, i) => {
      const r = results[i];
      const expected = expectedLabel(file);
      const verdict = r.isAnomaly ? 'anomaly' : 'normal';
      return { file, expected, score: r.score, normalized: r.normalized, verdict, match: expected === '?' ? null : expected === verdict, heatmap: '' };
    });
    const w = Math.max(4, ...files.map((f) => f.length));
    console.log(`\nmodel ${manifest.name} (${show(modelDir)}), provider ${detector.provider}, threshold ${detector.threshold.toExponential(4)}\n`);
    console.log(`${'file'.padEnd(w)}  ${'expected'.padEnd(8)}  ${'score'.padStart(11)}  ${'normalised'.padStart(10)}  verdict`);
    for (const r of rows) {
      const mark = r.match === null ? '' : r.match ? '  ✓' : '  ✗';
      console.log(`${r.file.padEnd(w)}  ${r.expected.padEnd(8)}  ${r.score.toExponential(4).padStart(11)}  ${r.normalized.toFixed(4).padStart(10)}  ${(r.verdict === 'anomaly' ? 'ANOMALY' : 'normal').padEnd(7)}${mark}`);
    }
    const known = rows.filter((r) => r.match !== null);
    if (known.length > 0) console.log(`\n${known.filter((r) => r.match).length} of ${known.length} verdicts match the file names; ${msPerImage.toFixed(1)} ms/image (one cold call, PNG decoding included)`);

    // One colour scale for every heatmap, so a hot map means a large error, not just the image's own maximum.
    let mapMax = 0;
    for (const r of results) for (const v of r.anomalyMap.data) if (v > mapMax) mapMax = v;
    await mkdir(path.join(outDir, 'heatmaps'), { recursive: true });
    for (const [i, r] of results.entries()) {
      const png = await renderHeatmapPng(r, { input: paths[i], preprocessing: manifest.preprocessing, size: PANEL, max: mapMax || undefined });
      rows[i].heatmap = `heatmaps/${files[i].replace(/\.png$/i, '')}.heatmap.png`;
      await writeFile(path.join(outDir, rows[i].heatmap), png);
    }
    const report = path.join(outDir, 'index.html');
    await writeFile(report, htmlReport({ manifest, modelDir, provider: detector.provider, threshold: detector.threshold, rows, mapMax, msPerImage }));
    console.log(`heatmaps (input | reconstruction | anomaly map): ${show(path.join(outDir, 'heatmaps'))}`);
    console.log(`report: ${show(report)}`);
    return 0;
  } finally {
    await detector.dispose();
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`demo: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(e instanceof DemoError ? 2 : 1);
  },
);
