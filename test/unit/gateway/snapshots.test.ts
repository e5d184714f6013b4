import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ImageTensor, RawImage } from '@ganomaly-edge/runtime';
import { renderSnapshot, snapshotName, SnapshotStore } from '../../../src/gateway/watch/snapshots.js';

const T0 = Date.UTC(2026, 11, 2, 10, 0, 0, 0);

function grey(width: number, height: number, channels = 3, value = 128): RawImage {
  return { data: new Uint8Array(width * height * channels).fill(value), width, height, channels };
}

/** A 32×32 map, 0 except 1 in rows r0..r1, columns c0..c1 (inclusive). */
function blockMap(r0: number, r1: number, c0: number, c1: number): ImageTensor {
  const data = new Float32Array(32 * 32);
  for (let r = r0; r <= r1; r++) for (let c = c0; c <= c1; c++) data[r * 32 + c] = 1;
  return { data, width: 32, height: 32, channels: 1 };
}

async function decode(jpeg: Buffer): Promise<{ px: Buffer; w: number; h: number }> {
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  expect(info.channels).toBe(3);
  return { px: data, w: info.width, h: info.height };
}

/** Mean RGB over a rectangle of decoded pixels. */
function mean(img: { px: Buffer; w: number }, x0: number, y0: number, x1: number, y1: number): [number, number, number] {
  const s = [0, 0, 0];
  let n = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) {
    for (let k = 0; k < 3; k++) s[k] += img.px[(y * img.w + x) * 3 + k]!;
    n++;
  }
  return s.map((v) => v / n) as [number, number, number];
}

const isHot = ([r, g, b]: number[]) => r - g > 40 && r - b > 40;
const isGrey = (c: number[], v = 128) => c.every((k) => Math.abs(k - v) < 8);

describe('renderSnapshot', () => {
  it('colours the region where the map is high, upscaled to the frame, and leaves the rest of the frame as it was', async () => {
    // Map block rows 4-11, columns 20-27 → frame (320×240, 10×7.5 px per map cell) x 200-280, y 30-90.
    const img = await decode(await renderSnapshot({ frame: grey(320, 240), anomalyMap: blockMap(4, 11, 20, 27) }));
    expect([img.w, img.h]).toEqual([320, 240]);
    expect(isHot(mean(img, 215, 42, 265, 78))).toBe(true);
    expect(isGrey(mean(img, 20, 140, 150, 220))).toBe(true);
    expect(isGrey(mean(img, 20, 20, 150, 90))).toBe(true);
    expect(isGrey(mean(img, 210, 150, 300, 220))).toBe(true);
  });

  it('places the map over the roi only; a grey frame and an RGBA frame work', async () => {
    // roi x 100-164, y 50-114 (2 px per map cell); block rows 0-7, cols 0-7 → frame x 100-116, y 50-66.
    for (const channels of [1, 4]) {
      const img = await decode(await renderSnapshot({ frame: grey(320, 240, channels), anomalyMap: blockMap(0, 7, 0, 7), roi: { x: 100, y: 50, w: 64, h: 64 } }));
      expect(isHot(mean(img, 102, 52, 113, 63))).toBe(true);
      expect(isGrey(mean(img, 10, 10, 90, 45))).toBe(true); // left of and above the roi: untouched
      expect(isGrey(mean(img, 130, 80, 160, 110))).toBe(true); // inside the roi, where the map is 0
    }
  });

  it('with mapMax above the map, a weak anomaly stays faint', async () => {
    const weak = blockMap(4, 11, 20, 27);
    const strong = await decode(await renderSnapshot({ frame: grey(320, 240), anomalyMap: weak }));
    const faint = await decode(await renderSnapshot({ frame: grey(320, 240), anomalyMap: weak, mapMax: 10 }));
    const [r1, g1] = mean(strong, 215, 42, 265, 78);
    const [r2, g2] = mean(faint, 215, 42, 265, 78);
    expect(r1 - g1).toBeGreaterThan(r2 - g2 + 30);
  });

  it('without a map it is the frame itself; refuses a roi outside the frame and bad pixels', async () => {
    const img = await decode(await renderSnapshot({ frame: grey(64, 48, 3, 90) }));
    expect(isGrey(mean(img, 0, 0, 64, 48), 90)).toBe(true);
    await expect(renderSnapshot({ frame: grey(64, 48), anomalyMap: blockMap(0, 1, 0, 1), roi: { x: 40, y: 0, w: 32, h: 32 } })).rejects.toThrow(RangeError);
    await expect(renderSnapshot({ frame: { ...grey(64, 48), width: 65 } })).rejects.toThrow(TypeError);
    await expect(renderSnapshot({ frame: grey(8, 8) }, { quality: 0 })).rejects.toThrow(RangeError);
  });
});

describe('SnapshotStore retention', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gw-snaps-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const shot = (store: SnapshotStore, i: number, camera = 'cam') =>
    store.write({ camera, eventId: `ev-${i}`, time: T0 + i * 1000, frame: grey(64, 48, 3, 40 + i * 20), anomalyMap: blockMap(0, 3, 0, 3) });

  it('names files snap.<camera>.<time>.<event>.jpg and writes no temporary files', async () => {
    const store = await SnapshotStore.open({ dir, maxCount: 10, maxBytes: 1e9, maxAgeSeconds: 3600, now: () => T0 });
    const f = await shot(store, 0);
    expect(f.name).toBe('snap.cam.20261202T100000000Z.ev-0.jpg');
    expect(snapshotName('c', T0 + 1, 'a/b.c')).toBe('snap.c.20261202T100000001Z.a-b-c.jpg');
    expect(await readdir(dir)).toEqual([f.name]);
    expect((await stat(f.path)).size).toBe(f.bytes);
    expect((await sharp(f.path).metadata()).format).toBe('jpeg');
  });

  it('by count: removes exactly the oldest, whatever the write order and camera', async () => {
    const store = await SnapshotStore.open({ dir, maxCount: 3, maxBytes: 1e9, maxAgeSeconds: 3600, now: () => T0 });
    for (const i of [2, 0, 4, 1, 3]) await shot(store, i, i % 2 ? 'b' : 'a');
    expect((await readdir(dir)).sort()).toEqual(['snap.a.20261202T100002000Z.ev-2.jpg', 'snap.a.20261202T100004000Z.ev-4.jpg', 'snap.b.20261202T100003000Z.ev-3.jpg']);
    expect(store.removed).toBe(2);
  });

  it('by bytes: removes the oldest until the total fits', async () => {
    const probe = await SnapshotStore.open({ dir, maxCount: 100, maxBytes: 1e9, maxAgeSeconds: 3600, now: () => T0 });
    const sizes: number[] = [];
    for (let i = 0; i < 5; i++) sizes.push((await shot(probe, i)).bytes);
    // Room for the newest two only (plus less than the third newest).
    const limit = sizes[3]! + sizes[4]! + sizes[2]! - 1;
    const store = await SnapshotStore.open({ dir, maxCount: 100, maxBytes: limit, maxAgeSeconds: 3600, now: () => T0 });
    expect(store.list().map((f) => f.name)).toEqual(['snap.cam.20261202T100003000Z.ev-3.jpg', 'snap.cam.20261202T100004000Z.ev-4.jpg']);
    expect(store.bytes).toBe(sizes[3]! + sizes[4]!);
    expect((await readdir(dir)).length).toBe(2);
  });

  it('by age: removes files older than maxAgeSeconds, measured from the time in their name', async () => {
    let now = T0;
    const store = await SnapshotStore.open({ dir, maxCount: 100, maxBytes: 1e9, maxAgeSeconds: 2.5, now: () => now });
    for (let i = 0; i < 4; i++) await shot(store, i);
    expect(store.list()).toHaveLength(4);
    now = T0 + 4000; // cut-off T0 + 1500: frames 0 and 1 are too old
    expect((await store.prune()).map((p) => p.slice(dir.length + 1))).toEqual(['snap.cam.20261202T100000000Z.ev-0.jpg', 'snap.cam.20261202T100001000Z.ev-1.jpg']);
    expect(store.list().map((f) => f.time)).toEqual([T0 + 2000, T0 + 3000]);
  });

  it('keeps the file just written even when it alone is over the byte limit', async () => {
    const store = await SnapshotStore.open({ dir, maxCount: 100, maxBytes: 1, maxAgeSeconds: 3600, now: () => T0 });
    await shot(store, 0);
    const f = await shot(store, 1);
    expect(await readdir(dir)).toEqual([f.name]);
  });

  it('never touches files it did not write; removes temporary files a crash left; indexes existing snapshots', async () => {
    const foreign = ['notes.txt', 'snap.jpg', 'snap.cam.2026.x.jpg', 'photo.jpg', 'snap.cam.20261202T100000000Z.ev.jpeg'];
    for (const f of foreign) await writeFile(join(dir, f), 'keep me');
    await writeFile(join(dir, '.snap.cam.20261202T100000000Z.ev-9.jpg.123.abcd.tmp'), 'half a jpeg');
    const first = await SnapshotStore.open({ dir, maxCount: 100, maxBytes: 1e9, maxAgeSeconds: 3600, now: () => T0 });
    for (let i = 0; i < 3; i++) await shot(first, i);
    const again = await SnapshotStore.open({ dir, maxCount: 1, maxBytes: 1e9, maxAgeSeconds: 3600, now: () => T0 });
    expect(again.list().map((f) => f.name)).toEqual(['snap.cam.20261202T100002000Z.ev-2.jpg']);
    expect((await readdir(dir)).sort()).toEqual([...foreign, 'snap.cam.20261202T100002000Z.ev-2.jpg'].sort());
  });

  it('validates its options', async () => {
    await expect(SnapshotStore.open({ dir, maxCount: 0, maxBytes: 1, maxAgeSeconds: 1 })).rejects.toThrow(RangeError);
    await expect(SnapshotStore.open({ dir, maxCount: 1, maxBytes: 1.5, maxAgeSeconds: 1 })).rejects.toThrow(TypeError);
    await expect(SnapshotStore.open({ dir: '', maxCount: 1, maxBytes: 1, maxAgeSeconds: 1 })).rejects.toThrow(TypeError);
    await expect(SnapshotStore.open({ dir, maxCount: 1, maxBytes: 1, maxAgeSeconds: 1, opacity: 2 })).rejects.toThrow(RangeError);
  });
});
