import { GanomalyError } from '@ganomaly-edge/runtime';

/** Evaluation input that cannot give a meaningful number (one class missing, NaN scores, a model/data mismatch). */
export class EvalError extends GanomalyError {
  override name = 'EvalError';
  readonly code = 'eval_failed';
}
