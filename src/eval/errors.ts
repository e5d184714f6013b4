/** Evaluation input that cannot give a meaningful number (one class missing, NaN scores, a model/data mismatch). */
export class EvalError extends Error {
  override name = 'EvalError';
}
