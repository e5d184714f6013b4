// The JS image-header reader admission uses instead of sharp's metadata(): it must give sharp's
// answer for every image it answers for, and nothing (so sharp decides) for anything else.
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { readImageHeader } from '../../../src/gateway/serve/image-header.js';
import { decodedSize } from '../../../src/gateway/serve/inputs.js';

function pixels(w: number, h: number, c: 1 | 2 | 3 | 4, seed = 1) {
  const d = Buffer.alloc(w * h * c);
  for (let i = 0; i < d.length; i++) d[i] = (i * 2654435761 + seed * 97) >>> 24;
  if (c === 2 || c === 4) for (let i = c - 1; i < d.length; i += c) d[i] = i % 7 === 0 ? 0 : 255;
  return sharp(d, { raw: { width: w, height: h, channels: c } });
}

/** A PNG with a tRNS chunk (valid CRC) inserted right after IHDR. */
async function withTrns(png: Promise<Buffer>, payload: number[]): Promise<Buffer> {
  const b = await png;
  const body = Buffer.concat([Buffer.from('tRNS'), Buffer.from(payload)]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(payload.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([b.subarray(0, 33), len, body, crc, b.subarray(33)]);
}

function cases(): [string, Promise<Buffer>][] {
  const out: [string, Promise<Buffer>][] = [];
  for (const c of [1, 2, 3, 4] as const) {
    out.push([`png ${c}ch`, pixels(37, 21, c).png().toBuffer()]);
    out.push([`png 16-bit ${c}ch`, pixels(37, 21, c).toColourspace(c <= 2 ? 'grey16' : 'rgb16').png().toBuffer()]);
    out.push([`png palette ${c}ch`, pixels(37, 21, c).png({ palette: true }).toBuffer()]);
    out.push([`jpeg ${c}ch`, pixels(41, 23, c).jpeg().toBuffer()]);
    out.push([`jpeg progressive ${c}ch`, pixels(41, 23, c).jpeg({ progressive: true }).toBuffer()]);
    out.push([`webp lossy ${c}ch`, pixels(43, 19, c).webp().toBuffer()]);
    out.push([`webp lossless ${c}ch`, pixels(43, 19, c).webp({ lossless: true }).toBuffer()]);
  }
  out.push(['png grey', pixels(37, 21, 3).toColourspace('b-w').png().toBuffer()]);
  out.push(['png grey+alpha', pixels(37, 21, 4).toColourspace('b-w').png().toBuffer()]);
  out.push(['png 1-bit palette', pixels(37, 21, 1).png({ palette: true, colours: 2 }).toBuffer()]);
  out.push(['png rgb + tRNS', withTrns(pixels(37, 21, 3).png().toBuffer(), [0, 1, 0, 2, 0, 3])]);
  out.push(['png grey + tRNS', withTrns(pixels(37, 21, 3).toColourspace('b-w').png().toBuffer(), [0, 7])]);
  out.push(['jpeg grey', pixels(41, 23, 3).toColourspace('b-w').jpeg().toBuffer()]);
  out.push(['jpeg cmyk', pixels(41, 23, 3).toColourspace('cmyk').jpeg().toBuffer()]);
  out.push(['jpeg with EXIF orientation', pixels(41, 23, 3).withMetadata({ orientation: 6 }).jpeg().toBuffer()]);
  out.push(['webp 3000 wide', pixels(3000, 17, 3).webp().toBuffer()]);
  out.push(['png 5000 wide', pixels(5000, 3, 3).png().toBuffer()]);
  return out;
}

describe('readImageHeader', () => {
  it('gives exactly what sharp metadata() gives for PNG, JPEG and WebP of every channel layout', async () => {
    for (const [name, made] of cases()) {
      const buf = await made;
      const m = await sharp(buf).metadata();
      const want = { format: m.format, width: m.width, height: m.height, channels: m.channels, bytesPerSample: m.depth === 'ushort' ? 2 : 1 };
      expect({ name, header: readImageHeader(buf) }).toEqual({ name, header: want });
    }
  });

  it('answers nothing rather than guessing: truncated, mutated and foreign bytes never throw, and a prefix never gives another answer', async () => {
    const bufs = await Promise.all(cases().map(([, p]) => p));
    bufs.push(await sharp({ create: { width: 9, height: 9, channels: 3, background: '#123' } }).gif().toBuffer());
    bufs.push(await sharp({ create: { width: 9, height: 9, channels: 3, background: '#123' } }).tiff().toBuffer());
    bufs.push(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>'));
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (const full of bufs) {
      const whole = readImageHeader(full);
      for (let n = 0; n <= Math.min(full.length, 200); n++) {
        const h = readImageHeader(full.subarray(0, n));
        if (h !== undefined) expect(h).toEqual(whole);
      }
      for (let k = 0; k < 200; k++) {
        const m = Buffer.from(full.subarray(0, 256));
        m[Math.floor(rand() * m.length)] = Math.floor(rand() * 256);
        expect(() => readImageHeader(m)).not.toThrow();
      }
    }
    for (let k = 0; k < 500; k++) expect(() => readImageHeader(Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256))))).not.toThrow();
    expect(readImageHeader(bufs.at(-3)!)).toBeUndefined(); // GIF: sharp decides (and serve refuses it)
  });

  it('decodedSize takes the JS answer, and still falls back to sharp for what it does not read (a JPEG declared as PNG is named)', async () => {
    const png = await pixels(300, 200, 4).png().toBuffer();
    expect(await decodedSize(png, 'image/png', {}, 1e6)).toBe(300 * 200 * 4);
    await expect(decodedSize(png, 'image/png', {}, 1000)).rejects.toMatchObject({ status: 400, code: 'image_too_large' });
    const jpeg = await pixels(30, 20, 3).jpeg().toBuffer();
    await expect(decodedSize(jpeg, 'image/png', {}, 1e6)).rejects.toMatchObject({ status: 415, message: expect.stringMatching(/declared as image\/png but is jpeg/) });
  });
});
