import { GanomalyError } from '@ganomaly-edge/runtime';

/** A dataset that cannot be found, read or used as asked; the message names the file or setting at fault. */
export class DataError extends GanomalyError {
  override name = 'DataError';
  readonly code = 'data_invalid';
}
