// The code of a decode worker thread (see decode-pool.ts). A plain JavaScript string started
// with `new Worker(code, { eval: true })`, so it needs no file of its own next to a bundle. It
// imports the runtime's Node entry by the absolute URL the main thread resolved, and runs the
// runtime's own decodeNodeImage and preprocessPixels: the pixels a worker produces are the ones
// Detector.score would, bit for bit.
//
// A decoded image is external memory of this thread's isolate, freed only when its garbage
// collector runs, and V8 waits for tens of MB of external growth before it does: decoded images
// then outlived their budget reservation and stacked up per worker. After an image of at least
// COLLECT_AFTER_BYTES a full collection (a few ms on this small heap) frees it at once. gc is
// exposed to a new context of this thread only (v8 flags reach contexts created after them).
//
// workerData: { runtimeUrl, limitInputPixels, preprocessing, tiling, timeoutSeconds }   tiling: patch models, else null;
//             timeoutSeconds: sharp's, 0 = none
// Protocol:  ← { ready: true } | { ready: false, error }   once, after the runtime (and sharp) loaded
//            → { id, data: Uint8Array }                    encoded image bytes
//            ← { id, input: Float32Array }                 the model input (transferred)
//            ← { id, input, tiles: { count, per, layout, boxes, frame, source } }   a patch model's cut frame
//            ← { id, error: { name, message } }            a decode failure
export const DECODE_WORKER_SOURCE = String.raw`
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const describe = (e) => ({ name: e && e.name ? String(e.name) : 'Error', message: e && e.message !== undefined ? String(e.message) : String(e) });
// sharp is loaded up front (its first load is slow), but a worker without it still starts: each
// decode then fails with the runtime's MissingDependencyError, as the server thread's would.
const runtime = import(workerData.runtimeUrl).then(async (rt) => {
  await rt.loadSharp().catch(() => undefined);
  return rt;
});
runtime.then(() => parentPort.postMessage({ ready: true }), (e) => parentPort.postMessage({ ready: false, error: describe(e) }));

const COLLECT_AFTER_BYTES = 8 * 1024 * 1024;
let collect = () => {};
try {
  require('node:v8').setFlagsFromString('--expose-gc');
  collect = require('node:vm').runInNewContext('gc');
} catch {
  // without it, V8 collects in its own time
}

/** Decodes and preprocesses one image; the decoded pixels are unreachable once it returns. */
async function modelInput(rt, data) {
  const pixels = await rt.decodeNodeImage(data, workerData.limitInputPixels, { timeoutSeconds: workerData.timeoutSeconds });
  if (workerData.tiling) {
    // A patch model: the frame cut into its tiles, which come back with their boxes.
    const { data: input, ...tiles } = rt.cutFrameTiles(pixels, workerData.tiling, workerData.preprocessing, 'CHW');
    return { input, tiles, decodedBytes: pixels.data.length };
  }
  return { input: rt.preprocessPixels(pixels, workerData.preprocessing), decodedBytes: pixels.data.length };
}

parentPort.on('message', async (msg) => {
  let decodedBytes = 0;
  try {
    const rt = await runtime;
    const r = await modelInput(rt, msg.data);
    decodedBytes = r.decodedBytes;
    parentPort.postMessage({ id: msg.id, input: r.input, ...(r.tiles ? { tiles: r.tiles } : {}) }, [r.input.buffer]);
  } catch (e) {
    parentPort.postMessage({ id: msg.id, error: describe(e) });
  }
  if (decodedBytes >= COLLECT_AFTER_BYTES) collect();
});
`;
