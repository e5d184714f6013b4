// Writes an evaluation to a folder: report.json, the charts, and every test score as CSV so the
// numbers can be re-derived with any other tool.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { EvalResult } from './report.js';
import { histogramSvg, rocSvg, svgToPng } from './plots.js';

const EVAL_FILES = ['report.json', 'roc.png', 'hist.png', 'hist-baseline.png', 'scores.csv'] as const;

const csvField = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

export async function writeEvalOutputs(result: EvalResult, dir: string): Promise<string[]> {
  const { report, test, roc } = result;
  await fs.mkdir(dir, { recursive: true });
  const byClass = (xs: Float64Array) => ({
    normal: xs.filter((_, i) => test.labels[i] === 0),
    abnormal: xs.filter((_, i) => test.labels[i] === 1),
  });
  const cls = `abnormal class '${report.data.abnormalClass}'`;
  const rocPng = await svgToPng(rocSvg([
    { label: 'GANomaly score', ...roc.ganomaly, auc: report.ganomaly.rocAuc },
    { label: 'baseline mean |x − x̂|', ...roc.baseline, auc: report.baseline.rocAuc },
  ], { title: `ROC, ${cls}: AUC ${report.ganomaly.rocAuc.toFixed(4)}` }));
  const hist = await svgToPng(histogramSvg({
    ...byClass(test.scores), threshold: report.threshold.value,
    title: `GANomaly score, ${cls}, AUC ${report.ganomaly.rocAuc.toFixed(4)}`, xLabel: `score (${report.model.scoreKind} latent distance)`,
  }));
  const histBaseline = await svgToPng(histogramSvg({
    ...byClass(test.baseline), threshold: report.baseline.threshold?.value,
    title: `Baseline mean |x − x̂|, ${cls}, AUC ${report.baseline.rocAuc.toFixed(4)}`, xLabel: 'mean |x − x̂| (model units)',
  }));
  const rows = ['source,label,score,baseline'];
  test.sources.forEach((s, i) => rows.push(`${csvField(s)},${test.labels[i]},${test.scores[i]},${test.baseline[i]}`));
  const contents: Record<(typeof EVAL_FILES)[number], string | Buffer> = {
    'report.json': `${JSON.stringify(report, null, 2)}\n`,
    'roc.png': rocPng,
    'hist.png': hist,
    'hist-baseline.png': histBaseline,
    'scores.csv': `${rows.join('\n')}\n`,
  };
  for (const [name, body] of Object.entries(contents)) await fs.writeFile(path.join(dir, name), body);
  return EVAL_FILES.map((f) => path.join(dir, f));
}
