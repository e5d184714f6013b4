// `serve` with a patch model: decode workers cut PNG frames into tiles, raw pixels are cut on the
// server thread, and both answer the frame's score and worst tile exactly as Detector.score does.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDetector, type Manifest, type NodeDetector } from '../../../src/runtime/node.js';
import { startServer, type RunningServer } from '../../../src/gateway/serve/server.js';
import { makeModelFolder, testImage, writeModelFolder, type TestModel } from '../../helpers/make-model.js';

describe('serve with a patch model', () => {
  let model: TestModel;
  let server: RunningServer;
  let detector: NodeDetector;
  const frame = testImage(96, 64, 1, 31);

  beforeAll(async () => {
    model = await makeModelFolder();
    const manifest: Manifest = { ...model.manifest, tiling: { tile: 32, stride: 16, frame: 'any', reduce: 'max' } };
    await writeModelFolder(model.dir, manifest, model.detector);
    server = await startServer({ model: model.dir, port: 0, healthPort: false, executionProviders: ['cpu'], log: () => {} });
    detector = await createDetector({ model: model.dir, executionProviders: ['cpu'], logger: null });
  });
  afterAll(async () => {
    await server?.close();
    await detector?.dispose();
  });

  it('answers a PNG frame (cut in a decode worker) with the library’s frame score and worst tile', async () => {
    const png = await sharp(Buffer.from(frame.data), { raw: { width: 96, height: 64, channels: 1 } }).png().toBuffer();
    const res = await fetch(`${server.url}/v1/score`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { score: number; worstTile: { box: unknown; score: number } };
    const want = await detector.score(frame);
    expect(body.score).toBe(want.score);
    expect(body.worstTile).toEqual(want.worstTile);
  });

  it('cuts raw pixels on the server thread the same way, and refuses a frame smaller than a tile with a 400', async () => {
    const raw = (img: { data: Uint8Array; width: number; height: number }) =>
      fetch(`${server.url}/v1/score`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'x-width': String(img.width), 'x-height': String(img.height), 'x-channels': '1' }, body: img.data });
    const res = await raw(frame);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { score: number }).score).toBe((await detector.score(frame)).score);
    const small = await raw(testImage(20, 64, 1, 2) as { data: Uint8Array; width: number; height: number });
    expect(small.status).toBe(400);
    expect(((await small.json()) as { error: { message: string } }).error.message).toMatch(/smaller than one 32x32 tile/);
  });
});
