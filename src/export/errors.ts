export class ExportError extends Error {
  override name = 'ExportError';
}

/** The tfjs model and an exported graph disagree beyond the tolerance. */
export class ParityError extends Error {
  override name = 'ParityError';
}
