// Promise helpers for tests of refusals: what a promise rejects with, and a bound on how long it
// may take — a read that hangs on a FIFO must fail the test, not stall the suite.

/** Resolves to what `p` settles to, or rejects if it takes longer than `ms` (a hang). */
export async function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`hung for ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The error `p` rejects with; fails the test when it resolves, or (with `ms`) when it hangs longer than that. */
export async function rejection(p: Promise<unknown>, ms?: number): Promise<Error> {
  try {
    await (ms === undefined ? p : within(ms, p));
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

/** A small grey PNG written into `dir` (a fixture for CLI and decode tests). */
export async function writeTestPng(dir: string, size: number, seed = 3): Promise<string> {
  const [{ default: sharp }, { join }, { testImage }] = await Promise.all([import('sharp'), import('node:path'), import('./make-model.js')]);
  const file = join(dir, 'a.png');
  const img = testImage(size, size, 1, seed);
  await sharp(Buffer.from(img.data), { raw: { width: size, height: size, channels: 1 } }).png().toFile(file);
  return file;
}
