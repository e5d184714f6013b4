// The two evaluation charts: ROC curves and overlaid normal/abnormal score histograms, as SVG
// strings (testable, diffable) rendered to PNG with sharp.
import sharp from 'sharp';
import { quantileSorted } from '../stats.js';
import { axes, COLORS, frame, legend, px, py, svgDocument } from './svg.js';

export interface RocSeries {
  label: string;
  fpr: readonly number[];
  tpr: readonly number[];
  auc: number;
}

export interface ChartSize {
  width?: number;
  height?: number;
}

export function rocSvg(series: readonly RocSeries[], opts: ChartSize & { title?: string } = {}): string {
  if (series.length === 0) throw new RangeError('rocSvg needs at least one curve');
  const f = frame(opts.width ?? 640, opts.height ?? 520, [0, 1], [0, 1]);
  const title = opts.title ?? `ROC curve, AUC ${series[0]!.auc.toFixed(4)}`;
  const body = axes(f, { title, x: 'false positive rate (normal images flagged)', y: 'true positive rate (anomalies caught)' });
  body.push(`<line x1="${px(f, 0)}" y1="${py(f, 0)}" x2="${px(f, 1)}" y2="${py(f, 1)}" stroke="#999" stroke-dasharray="4 4"/>`);
  series.forEach((s, i) => {
    const points = s.fpr.map((x, k) => `${px(f, x).toFixed(2)},${py(f, s.tpr[k]!).toFixed(2)}`).join(' ');
    const dash = i > 0 ? ' stroke-dasharray="7 4"' : '';
    body.push(`<polyline points="${points}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2.5"${dash}/>`);
  });
  body.push(...legend(f, [
    ...series.map((s, i) => ({ label: `${s.label} (AUC ${s.auc.toFixed(4)})`, color: COLORS[i % COLORS.length]!, dash: i > 0 })),
    { label: 'chance (AUC 0.5)', color: '#999', dash: true },
  ], 'bottom'));
  return svgDocument(f, body);
}

export interface HistogramInput extends ChartSize {
  normal: ArrayLike<number>;
  abnormal: ArrayLike<number>;
  threshold?: number;
  title?: string;
  xLabel?: string;
  bins?: number;
}

/**
 * Per-class histograms normalised to fractions of each class, so a small abnormal set stays
 * visible next to a large normal one. The x range stops at the 99th percentile (or the
 * threshold, if higher): a few huge scores would otherwise squeeze everything into one bin; the
 * scores beyond it are counted into the last bin and said so under the title.
 */
export function histogramSvg(h: HistogramInput): string {
  const all = Float64Array.from([...Array.from(h.normal), ...Array.from(h.abnormal)]).sort();
  if (all.length === 0) throw new RangeError('histogramSvg needs at least one score');
  for (const v of all) if (!Number.isFinite(v)) throw new RangeError('histogram scores must be finite');
  const bins = h.bins ?? 40;
  let lo = all[0]!;
  let hi = Math.max(quantileSorted(all, 0.99), h.threshold ?? -Infinity);
  if (h.threshold !== undefined) lo = Math.min(lo, h.threshold);
  if (!(hi > lo)) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.5 : 1;
    lo -= pad;
    hi += pad;
  }
  const width = (hi - lo) / bins;
  const count = (xs: ArrayLike<number>) => {
    const c = new Float64Array(bins);
    for (let i = 0; i < xs.length; i++) c[Math.min(bins - 1, Math.max(0, Math.floor((xs[i]! - lo) / width)))]!++;
    return c.map((v) => (xs.length > 0 ? v / xs.length : 0));
  };
  const classes = [
    { label: `normal (${h.normal.length})`, frac: count(h.normal), color: COLORS[0] },
    { label: `abnormal (${h.abnormal.length})`, frac: count(h.abnormal), color: COLORS[1] },
  ];
  const yMax = Math.max(...classes.flatMap((c) => Array.from(c.frac))) * 1.1 || 1;
  const f = frame(h.width ?? 640, h.height ?? 440, [lo, hi], [0, yMax]);
  const body = axes(f, { title: h.title ?? 'Score distribution', x: h.xLabel ?? 'anomaly score', y: 'fraction of class' });
  for (const c of classes) {
    c.frac.forEach((v, b) => {
      if (v === 0) return;
      const x0 = px(f, lo + b * width);
      const y = py(f, v);
      body.push(`<rect x="${x0.toFixed(2)}" y="${y.toFixed(2)}" width="${(px(f, lo + (b + 1) * width) - x0).toFixed(2)}" height="${(f.bottom - y).toFixed(2)}" fill="${c.color}" fill-opacity="0.45" stroke="${c.color}" stroke-width="0.8"/>`);
    });
  }
  let beyond = 0;
  for (const v of all) if (v > hi) beyond++;
  if (beyond > 0) body.push(`<text x="${f.width / 2}" y="42" font-size="11" text-anchor="middle" fill="#555">${beyond} score${beyond === 1 ? '' : 's'} above ${Number(hi.toPrecision(3))} are counted in the last bin</text>`);
  const rows: { label: string; color: string }[] = classes.map((c) => ({ label: c.label, color: c.color }));
  if (h.threshold !== undefined) {
    const x = px(f, h.threshold).toFixed(2);
    body.push(`<line x1="${x}" y1="${f.top}" x2="${x}" y2="${f.bottom}" stroke="#111" stroke-width="2" stroke-dasharray="6 4"/>`);
    rows.push({ label: `threshold ${Number(h.threshold.toPrecision(4))}`, color: '#111' });
  }
  body.push(...legend(f, rows.map((r, i) => ({ ...r, dash: i === 2 })), 'top'));
  return svgDocument(f, body);
}

export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg)).png().toBuffer();
}
