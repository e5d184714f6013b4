// Unit tests of the platform-neutral runtime core: manifest validation, score post-processing,
// hashing and the display helpers. No ONNX Runtime here; see runtime-node.test.ts for that.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../../src/runtime/core/manifest.js';
import { ManifestError } from '../../../src/runtime/core/errors.js';
import { isAnomalous, normalizeScore } from '../../../src/runtime/core/scores.js';
import { sha256Hex } from '../../../src/runtime/core/sha256.js';
import { anomalyMapToPixels, reconstructionToPixels, turbo } from '../../../src/runtime/core/visual.js';
import { checkRawPixels } from '../../../src/runtime/core/images.js';
import { ChannelMismatchError, InvalidImageError } from '../../../src/runtime/core/errors.js';
import { defaultPreprocessing, preprocessImage } from '../../../src/runtime/core/pixels.js';
import { validManifest } from '../../helpers/make-model.js';

function manifestError(source: unknown): ManifestError {
  try {
    parseManifest(source);
  } catch (e) {
    expect(e).toBeInstanceOf(ManifestError);
    return e as ManifestError;
  }
  throw new Error('parseManifest accepted an invalid manifest');
}

describe('parseManifest', () => {
  it('accepts a valid manifest as text or object', () => {
    const m = validManifest();
    expect(parseManifest(JSON.stringify(m))).toEqual(m);
    expect(parseManifest(m).threshold.value).toBe(0.4);
  });

  it('rejects text that is not JSON', () => {
    expect(manifestError('{"schemaVersion": 1,').message).toMatch(/not valid JSON/);
    expect(manifestError('[1,2]').message).toMatch(/must hold a JSON object/);
  });

  it('names the supported schema versions for an unsupported or missing one', () => {
    expect(manifestError({ ...validManifest(), schemaVersion: 2 }).message).toMatch(/schemaVersion 2 is not supported.*supported: 1/);
    const { schemaVersion: _, ...rest } = validManifest();
    expect(manifestError(rest).message).toMatch(/missing schemaVersion \(supported: 1\)/);
  });

  it('lists every missing or malformed field at once', () => {
    const m = validManifest() as unknown as Record<string, any>;
    delete m.calibration;
    delete m.threshold.value;
    m.preprocessing.std = [0];
    m.files['detector.onnx'].sha256 = 'xyz';
    const msg = manifestError(m).message;
    expect(msg).toMatch(/missing calibration\b/);
    expect(msg).toMatch(/missing threshold\.value/);
    expect(msg).toMatch(/preprocessing\.std must be positive/);
    expect(msg).toMatch(/sha256 must be 64 hex digits/);
  });

  it('rejects fields that contradict each other', () => {
    const m = validManifest();
    m.preprocessing = defaultPreprocessing(32, 3);
    expect(manifestError(m).message).toMatch(/preprocessing\.(mean|std) must be 1 finite number|channelOrder 'rgb' does not match model\.nc 1/);
    const m2 = validManifest();
    m2.input.shape = ['N', 1, 64, 64];
    expect(manifestError(m2).message).toMatch(/input\.shape .* does not match model/);
    const m3 = validManifest();
    m3.calibration.max = 0.05;
    expect(manifestError(m3).message).toMatch(/calibration\.max .* is below calibration\.min/);
  });
});

describe('score post-processing', () => {
  const cal = { min: 0.2, max: 0.6 };
  it('normalises with the export-time calibration, clipped to [0, 1]', () => {
    expect(normalizeScore(0.4, cal)).toBeCloseTo(0.5, 12);
    expect(normalizeScore(0.1, cal)).toBe(0);
    expect(normalizeScore(0.9, cal)).toBe(1);
    expect(normalizeScore(0.2, { min: 0.2, max: 0.2 })).toBe(0);
    expect(normalizeScore(0.3, { min: 0.2, max: 0.2 })).toBe(1);
  });
  it('calls a score anomalous only when strictly above the threshold; NaN is never normal', () => {
    expect(isAnomalous(0.5, 0.5)).toBe(false);
    expect(isAnomalous(0.50001, 0.5)).toBe(true);
    expect(isAnomalous(Number.NaN, 0.5)).toBe(true);
  });
});

describe('sha256Hex (for pages without WebCrypto)', () => {
  it('matches node:crypto across block boundaries', () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 70_001]) {
      const b = new Uint8Array(randomBytes(n + 3)).subarray(3); // non-zero byteOffset
      expect(sha256Hex(b)).toBe(createHash('sha256').update(b).digest('hex'));
    }
  });
});

describe('raw pixel checks', () => {
  it('gives typed errors for float data, NaN, wrong sizes and unconvertible channel counts', () => {
    const f = new Float32Array(4).fill(Number.NaN);
    expect(() => checkRawPixels({ data: f as never, width: 2, height: 2, channels: 1 }, 3)).toThrow(InvalidImageError);
    expect(() => checkRawPixels({ data: new Uint8Array(5), width: 2, height: 2, channels: 1 })).toThrow(/has 5 bytes but 2x2x1 needs 4/);
    expect(() => checkRawPixels({ data: new Uint8Array(0), width: 0, height: 2, channels: 1 })).toThrow(InvalidImageError);
    const e = (() => {
      try {
        checkRawPixels({ data: new Uint8Array(20), width: 2, height: 2, channels: 5 }, 1);
      } catch (err) {
        return err as ChannelMismatchError;
      }
    })();
    expect(e).toBeInstanceOf(ChannelMismatchError);
    expect(e!.channels).toBe(5);
    expect(e!.index).toBe(1);
  });
});

describe('display helpers', () => {
  it('reconstructionToPixels inverts the preprocessing', () => {
    const pre = defaultPreprocessing(4, 3);
    const px = Uint8Array.from({ length: 48 }, (_, i) => (i * 37) % 256);
    const x = preprocessImage({ data: px, width: 4, height: 4, channels: 3 }, pre, 'CHW');
    const back = reconstructionToPixels({ data: x, channels: 3, height: 4, width: 4 }, pre);
    expect(Array.from(back.data)).toEqual(Array.from(px));
  });
  it('colours the map from dark blue (0) to dark red (max)', () => {
    expect(turbo(0)).toEqual([48, 18, 59]);
    expect(turbo(1)).toEqual([122, 4, 3]);
    const img = anomalyMapToPixels({ data: Float32Array.from([0, 0.5, 1, 2]), channels: 1, height: 2, width: 2 });
    expect(img.channels).toBe(4);
    expect(Array.from(img.data.slice(12, 15))).toEqual([122, 4, 3]); // the maximum is the hottest colour
    const fixed = anomalyMapToPixels({ data: Float32Array.from([0, 0.5, 1, 2]), channels: 1, height: 2, width: 2 }, { max: 4 });
    expect(Array.from(fixed.data.slice(12, 15))).toEqual(turbo(0.5));
  });
});
