// The error a promise rejects with; fails the test when it resolves, or (with `ms`) when it neither
// settles within that time — a read that hangs on a FIFO must fail the test, not stall the suite.
export async function rejection(p: Promise<unknown>, ms?: number): Promise<Error> {
  let timer: NodeJS.Timeout | undefined;
  const late = ms === undefined ? null : new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`hung for ${ms} ms`)), ms)));
  try {
    await (late ? Promise.race([p, late]) : p);
  } catch (e) {
    return e as Error;
  } finally {
    clearTimeout(timer);
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
