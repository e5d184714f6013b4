import { GanomalyError } from '@ganomaly-edge/runtime';

export class ExportError extends GanomalyError {
  override name = 'ExportError';
  readonly code = 'export_failed';
}

/** The tfjs model and an exported graph disagree beyond the tolerance. */
export class ParityError extends GanomalyError {
  override name = 'ParityError';
  readonly code = 'parity_mismatch';
}
