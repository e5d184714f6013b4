// The code of a decode worker thread (see decode-pool.ts). A plain JavaScript string started
// with `new Worker(code, { eval: true })`, so it needs no file of its own next to a bundle. It
// imports the runtime's Node entry by the absolute URL the main thread resolved, and runs the
// runtime's own decodeNodeImage and preprocessPixels: the pixels a worker produces are the ones
// Detector.score would, bit for bit.
//
// workerData: { runtimeUrl, limitInputPixels, preprocessing, tiling }   (tiling: patch models, else null)
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

parentPort.on('message', async (msg) => {
  try {
    const rt = await runtime;
    const pixels = await rt.decodeNodeImage(msg.data, workerData.limitInputPixels);
    if (workerData.tiling) {
      const { data, ...tiles } = rt.cutFrameTiles(pixels, workerData.tiling, workerData.preprocessing, 'CHW');
      parentPort.postMessage({ id: msg.id, input: data, tiles }, [data.buffer]);
      return;
    }
    const input = rt.preprocessPixels(pixels, workerData.preprocessing);
    parentPort.postMessage({ id: msg.id, input }, [input.buffer]);
  } catch (e) {
    parentPort.postMessage({ id: msg.id, error: describe(e) });
  }
});
`;
