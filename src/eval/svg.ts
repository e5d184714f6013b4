// Just enough SVG for two static charts: a frame with ticked, labelled axes. Built by hand so
// evaluation needs no plotting library; sharp (already a dependency) rasterises it.

export interface Frame {
  width: number;
  height: number;
  /** Plot area inside the margins, in pixels. */
  left: number;
  top: number;
  right: number;
  bottom: number;
  /** Data range on each axis. */
  x: [number, number];
  y: [number, number];
}

export const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'] as const;

export const escapeXml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);

export function frame(width: number, height: number, x: [number, number], y: [number, number]): Frame {
  return { width, height, left: 78, top: 48, right: width - 24, bottom: height - 56, x, y };
}

export const px = (f: Frame, v: number): number => f.left + ((v - f.x[0]) / (f.x[1] - f.x[0])) * (f.right - f.left);
export const py = (f: Frame, v: number): number => f.bottom - ((v - f.y[0]) / (f.y[1] - f.y[0])) * (f.bottom - f.top);

/** About `count` round tick values (1, 2 or 5 × 10^k apart) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): { ticks: number[]; step: number } {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) ticks.push(Number((k * step).toPrecision(12)) + 0); // + 0 turns −0 into 0
  return { ticks, step };
}

/** Tick label with just the digits the step needs; exponent form for very small or large values. */
export function formatTick(v: number, step: number): string {
  if (v === 0) return '0';
  const top = Math.floor(Math.log10(Math.abs(v)));
  const stepMag = Math.floor(Math.log10(step) + 1e-9);
  if (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5) return v.toExponential(Math.max(0, top - stepMag)).replace(/\.?0+e/, 'e'); // 1.0e-4 → 1e-4
  return v.toFixed(Math.max(0, -stepMag));
}

export function svgDocument(f: Frame, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif">`,
    `<rect width="${f.width}" height="${f.height}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
  ].join('\n');
}

/** Axes box, grid, ticks, tick labels, axis labels and a title. */
export function axes(f: Frame, labels: { title: string; x: string; y: string }): string[] {
  const out: string[] = [];
  const xt = niceTicks(f.x[0], f.x[1]);
  const yt = niceTicks(f.y[0], f.y[1]);
  for (const v of xt.ticks) {
    const x = px(f, v).toFixed(1);
    out.push(`<line x1="${x}" y1="${f.top}" x2="${x}" y2="${f.bottom}" stroke="#e5e5e5"/>`);
    out.push(`<line x1="${x}" y1="${f.bottom}" x2="${x}" y2="${f.bottom + 5}" stroke="#333"/>`);
    out.push(`<text x="${x}" y="${f.bottom + 19}" font-size="12" text-anchor="middle" fill="#333">${formatTick(v, xt.step)}</text>`);
  }
  for (const v of yt.ticks) {
    const y = py(f, v).toFixed(1);
    out.push(`<line x1="${f.left}" y1="${y}" x2="${f.right}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<line x1="${f.left - 5}" y1="${y}" x2="${f.left}" y2="${y}" stroke="#333"/>`);
    out.push(`<text x="${f.left - 8}" y="${y}" font-size="12" text-anchor="end" dominant-baseline="middle" fill="#333">${formatTick(v, yt.step)}</text>`);
  }
  out.push(`<rect x="${f.left}" y="${f.top}" width="${f.right - f.left}" height="${f.bottom - f.top}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${(f.left + f.right) / 2}" y="${f.height - 14}" font-size="13" text-anchor="middle" fill="#111">${escapeXml(labels.x)}</text>`);
  const midY = (f.top + f.bottom) / 2;
  out.push(`<text x="18" y="${midY}" font-size="13" text-anchor="middle" fill="#111" transform="rotate(-90 18 ${midY})">${escapeXml(labels.y)}</text>`);
  out.push(`<text x="${f.width / 2}" y="28" font-size="15" font-weight="bold" text-anchor="middle" fill="#111">${escapeXml(labels.title)}</text>`);
  return out;
}

/** Legend rows in the plot's top-right or bottom-right corner. */
export function legend(f: Frame, rows: { label: string; color: string; dash?: boolean }[], corner: 'top' | 'bottom'): string[] {
  const rowH = 18;
  const w = Math.max(...rows.map((r) => r.label.length)) * 7 + 40;
  const h = rows.length * rowH + 8;
  const x0 = f.right - w - 10;
  const y0 = corner === 'top' ? f.top + 10 : f.bottom - h - 10;
  const out = [`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="#ffffff" fill-opacity="0.85" stroke="#bbb"/>`];
  rows.forEach((r, i) => {
    const y = y0 + 4 + rowH * i + rowH / 2;
    const dash = r.dash ? ' stroke-dasharray="5 3"' : '';
    out.push(`<line x1="${x0 + 8}" y1="${y}" x2="${x0 + 28}" y2="${y}" stroke="${r.color}" stroke-width="3"${dash}/>`);
    out.push(`<text x="${x0 + 34}" y="${y}" font-size="12" dominant-baseline="middle" fill="#111">${escapeXml(r.label)}</text>`);
  });
  return out;
}
