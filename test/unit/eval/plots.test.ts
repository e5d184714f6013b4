import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { rocAuc, rocCurve } from '../../../src/eval/metrics.js';
import { histogramSvg, rocSvg, svgToPng } from '../../../src/eval/plots.js';
import { formatTick, niceTicks } from '../../../src/eval/svg.js';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

async function pngInfo(png: Buffer) {
  expect([...png.subarray(0, 8)]).toEqual(PNG_SIGNATURE);
  const meta = await sharp(png).metadata();
  const { channels, isOpaque } = await sharp(png).stats();
  return { format: meta.format, width: meta.width, height: meta.height, channels: channels.length, isOpaque };
}

describe('axis ticks', () => {
  it('chooses 1-2-5 steps covering the range', () => {
    expect(niceTicks(0, 1).ticks).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    const t = niceTicks(0.0021, 0.0093);
    expect(t.step).toBeCloseTo(0.002, 15);
        expect(t.ticks).toEqual([0.004, 0.006, 0.008]);
  });

  it('formats labels with the digits the step needs', () => {
    expect(formatTick(0.6000000000000001, 0.2)).toBe('0.6');
    expect(formatTick(0.004, 0.002)).toBe('0.004');
    expect(formatTick(0.00025, 0.00005)).toBe('2.5e-4');
    expect(formatTick(250000, 50000)).toBe('2.5e+5');
    expect(formatTick(0.0001, 0.00005)).toBe('1e-4');
    expect(formatTick(0, 0.2)).toBe('0');
    expect(formatTick(40, 20)).toBe('40');
  });
});

describe('plots', () => {
  const scores = [0.1, 0.4, 0.35, 0.8, 0.3, 0.9];
  const labels = [0, 0, 1, 1, 0, 1];

  it('ROC chart: a PNG of the requested size with the AUC in the title and escaped labels', async () => {
    const curve = rocCurve(scores, labels);
    const auc = rocAuc(scores, labels);
    const svg = rocSvg([{ label: 'GANomaly <score>', ...curve, auc }], { width: 500, height: 400 });
    expect(svg).toContain(`AUC ${auc.toFixed(4)}`);
    expect(svg).toContain('GANomaly &lt;score&gt;');
    expect(svg).toContain('>0.2</text>');
    const info = await pngInfo(await svgToPng(svg));
    expect(info).toMatchObject({ format: 'png', width: 500, height: 400, isOpaque: true });
  });

  it('histogram: a PNG of the default size with both classes and the threshold line', async () => {
    const svg = histogramSvg({ normal: [1, 2, 2, 3], abnormal: [3, 4, 50], threshold: 2.5, bins: 10 });
    expect(svg).toContain('normal (4)');
    expect(svg).toContain('abnormal (3)');
    expect(svg).toContain('threshold 2.5');
    expect(svg).toMatch(/1 score above [\d.]+ are counted in the last bin/);
    const info = await pngInfo(await svgToPng(svg));
    expect(info).toMatchObject({ format: 'png', width: 640, height: 440 });
  });

  it('histogram of identical scores still draws (degenerate range widened)', async () => {
    const svg = histogramSvg({ normal: [0, 0], abnormal: [0] });
    expect(svg).not.toContain('NaN');
    expect((await pngInfo(await svgToPng(svg))).width).toBe(640);
  });

  it('rejects empty or non-finite input', () => {
    expect(() => rocSvg([])).toThrow(RangeError);
    expect(() => histogramSvg({ normal: [], abnormal: [] })).toThrow(RangeError);
    expect(() => histogramSvg({ normal: [NaN], abnormal: [1] })).toThrow(/finite/);
  });
});
