/** A dataset that cannot be found, read or used as asked; the message names the file or setting at fault. */
export class DataError extends Error {
  override name = 'DataError';
}
