// A report as the few lines a person reads after `ganomaly eval`.
import type { EvalReport, MetricsBlock } from './evaluate.js';

const sci = (x: number): string => (x === 0 ? '0' : Math.abs(x) >= 1e-2 && Math.abs(x) < 1e4 ? x.toPrecision(4) : x.toExponential(3));
const f4 = (x: number): string => x.toFixed(4);

export function formatSummary(r: EvalReport): string {
  const d = r.data;
  const s = r.split;
  const lines = [
    `model      ${r.model.name} (isize ${r.model.isize}, nc ${r.model.nc}, ${r.model.scoreKind} score, ${r.model.precision ?? 'fp32'}) on ${r.provider}`,
    `data       ${d.spec}, abnormal '${d.abnormalClass}', seed ${d.seed}, maxImages ${d.maxImages ?? 'all'}` +
      (d.sameSplitAsTraining ? ' (the training split)' : ' (NOT the training split)'),
    `split      train ${s.trainNormal}, validation ${s.validationNormal}, test ${s.testNormal} normal + ${s.testAbnormal} abnormal`,
    `threshold  ${sci(r.threshold.value)} (${r.threshold.rule}); baseline ${r.baseline.threshold ? `${sci(r.baseline.threshold.value)} (same validation quantile ${r.baseline.threshold.quantile.toFixed(4)})` : 'none'}`,
    '',
    table([
      ['', 'ROC AUC', 'AP', 'precision', 'recall', 'F1', 'TP', 'FP', 'TN', 'FN'],
      row('GANomaly score', r.ganomaly),
      row('baseline mean|x-x̂|', r.baseline),
    ]),
  ];
  if (r.tiling) {
    const t = r.tiling;
    const frame = t.frame === 'any' ? 'frames at their own size' : `frames resized to ${t.frame.width}x${t.frame.height}`;
    const loc = r.localisation;
    lines.push('', `patch model: ${t.tile}-pixel tiles every ${t.stride} pixels of ${frame}; every number above is per frame (its worst tile)`);
    lines.push(loc ? `localisation: the worst tile holds the anomaly in ${loc.hits} of ${loc.frames} abnormal frames (${(100 * loc.share).toFixed(1)} %)` : 'localisation: no anomalies.json in the data folder, so not measured');
  }
  if (r.calibrationCheck) {
    const c = r.calibrationCheck;
    lines.push('', `calibration check on ${c.images} validation normals: max relative difference ${c.maxRelDiff.toExponential(2)} (${c.ok ? 'ok' : `over ${c.tolerance}`})`);
  }
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

function row(name: string, m: MetricsBlock): string[] {
  const t = m.atThreshold;
  const dash = ['-', '-', '-', '-', '-', '-', '-'];
  return [name, f4(m.rocAuc), f4(m.averagePrecision), ...(t ? [f4(t.precision), f4(t.recall), f4(t.f1), `${t.tp}`, `${t.fp}`, `${t.tn}`, `${t.fn}`] : dash)];
}

function table(rows: string[][]): string {
  // Combining marks (the hat in x̂) take no column of their own.
  const width = (s: string) => s.replace(/\p{M}/gu, '').length;
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => width(r[c]!))));
  const pad = (s: string, c: number) => ' '.repeat(widths[c]! - width(s));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell + pad(cell, c) : pad(cell, c) + cell)).join('  ')).join('\n');
}

/** Precisions side by side on one split: size, AUC, AP and the change from float32. */
export function formatPrecisionTable(reports: readonly EvalReport[]): string {
  const ref = reports.find((r) => r.model.precision === 'fp32');
  const rows = [['precision', 'file', 'bytes', 'ROC AUC', 'Δ AUC', 'AP', 'Δ AP', 'threshold', 'recall@thr']];
  for (const r of reports) {
    rows.push([
      r.model.precision, r.model.file, String(r.model.bytes), f4(r.ganomaly.rocAuc),
      ref ? (r.ganomaly.rocAuc - ref.ganomaly.rocAuc).toFixed(4) : '-', f4(r.ganomaly.averagePrecision),
      ref ? (r.ganomaly.averagePrecision - ref.ganomaly.averagePrecision).toFixed(4) : '-',
      sci(r.threshold.value), r.ganomaly.atThreshold ? f4(r.ganomaly.atThreshold.recall) : '-',
    ]);
  }
  return table(rows);
}
