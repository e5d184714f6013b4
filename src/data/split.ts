// The reference GANomaly split, seeded: normals shuffled, 80 % train / 20 % test; every abnormal
// image in test; a fraction of the train normals held out for validation (calibration, early
// stopping) so the test set is never used to choose anything.
import { DataError } from './errors.js';
import { createRng } from './rng.js';

export interface SplitProtocol {
  seed: number;
  /** Cap on pooled images before splitting, taken per class so the normal/abnormal ratio holds. */
  maxImages?: number;
  /** Fraction of the train normals held out as validation, in [0, 1). */
  validationFraction: number;
  /** Fraction of the (capped) normals that go to test, in (0, 1). */
  testFraction: number;
}

export interface SplitIndices {
  /** Pool indices, ascending. */
  train: Uint32Array;
  validation: Uint32Array;
  test: Uint32Array;
  /** 1 = abnormal, aligned with `test`. */
  testLabels: Uint8Array;
}

function checkProtocol(p: SplitProtocol): void {
  if (!Number.isInteger(p.seed) || p.seed < 0 || p.seed > 0xffffffff) throw new DataError(`seed must be an integer in 0..4294967295; got ${p.seed}`);
  if (p.maxImages !== undefined && (!Number.isInteger(p.maxImages) || p.maxImages < 2)) {
    throw new DataError(`maxImages must be an integer ≥ 2; got ${p.maxImages}`);
  }
  if (!(p.testFraction > 0 && p.testFraction < 1)) throw new DataError(`testFraction must be in (0, 1); got ${p.testFraction}`);
  if (!(p.validationFraction >= 0 && p.validationFraction < 1)) {
    throw new DataError(`validationFraction must be in [0, 1); got ${p.validationFraction}`);
  }
}

/** How many of each class `maxImages` keeps: proportional, at least one abnormal when any exist. */
export function capCounts(nNormal: number, nAbnormal: number, maxImages?: number): { normal: number; abnormal: number } {
  const total = nNormal + nAbnormal;
  if (maxImages === undefined || maxImages >= total) return { normal: nNormal, abnormal: nAbnormal };
  const abnormal = Math.min(nAbnormal, Math.max(nAbnormal > 0 ? 1 : 0, Math.round((maxImages * nAbnormal) / total)));
  return { normal: Math.min(nNormal, maxImages - abnormal), abnormal };
}

const ascending = (a: Uint32Array): Uint32Array => a.sort();

/**
 * Splits pool indices. The draws are fixed (one shuffle of the normals, then one of the
 * abnormals), so the same inputs and seed give the same split on every machine.
 */
export function splitPool(normal: ArrayLike<number>, abnormal: ArrayLike<number>, p: SplitProtocol): SplitIndices {
  checkProtocol(p);
  const rng = createRng(p.seed);
  const normals = rng.shuffle(Uint32Array.from(normal));
  const abnormals = rng.shuffle(Uint32Array.from(abnormal));
  const cap = capCounts(normals.length, abnormals.length, p.maxImages);
  const nTest = Math.round(cap.normal * p.testFraction);
  const nTrainAll = cap.normal - nTest;
  const nVal = Math.round(nTrainAll * p.validationFraction);
  if (nTrainAll - nVal < 1) {
    throw new DataError(`too few normal images to train: ${cap.normal} pooled, ${nTest} to test, ${nVal} to validation, none left for training`);
  }
  const testNormal = normals.subarray(0, nTest);
  const chosenAbnormal = abnormals.subarray(0, cap.abnormal);
  const test = ascending(Uint32Array.from([...testNormal, ...chosenAbnormal]));
  const abnormalSet = new Set(chosenAbnormal);
  return {
    train: ascending(normals.slice(nTest + nVal, cap.normal)),
    validation: ascending(normals.slice(nTest, nTest + nVal)),
    test,
    testLabels: Uint8Array.from(test, (i) => (abnormalSet.has(i) ? 1 : 0)),
  };
}
