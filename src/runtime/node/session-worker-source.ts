// The code of the worker thread that owns one onnxruntime-node session (see worker-session.ts).
// It is a plain JavaScript string, started with `new Worker(code, { eval: true })`, so it needs
// no file of its own next to the bundle: the same code runs from src/ under vitest and from
// dist/ after tsup. onnxruntime-node is loaded by the absolute path the main thread resolved.
//
// Protocol (one message each way per request, matched by id):
//   → { op: 'create', id, model, provider, options, logLevel }  ← { id, inputNames, outputNames }
//   → { op: 'run', id, feeds: { name: { data, dims } }, fetch }  ← { id, outputs: { name: { data, dims, type } } }
//   → { op: 'release', id }                                      ← { id }
//   any failure                                                  ← { id, error: { name, message } }
// Input and output buffers move by transfer, not by copy.
export const SESSION_WORKER_SOURCE = String.raw`
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
let session = null;

function setLogLevel(level) {
  if (level) ort.env.logLevel = level;
  else if (ort.env.logLevel === 'warning') ort.env.logLevel = 'fatal';
}

async function handle(msg) {
  if (msg.op === 'create') {
    setLogLevel(msg.logLevel);
    session = await ort.InferenceSession.create(msg.model, msg.options);
    return [{ inputNames: session.inputNames, outputNames: session.outputNames }, []];
  }
  if (msg.op === 'run') {
    const feeds = {};
    for (const [name, t] of Object.entries(msg.feeds)) feeds[name] = new ort.Tensor('float32', t.data, t.dims);
    const out = await session.run(feeds, msg.fetch);
    const outputs = {};
    const transfer = [];
    for (const name of msg.fetch) {
      const t = out[name];
      if (!t) continue;
      let data = t.data;
      // A view into a shared or larger buffer cannot be transferred alone: copy it.
      if (ArrayBuffer.isView(data) && (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength || transfer.includes(data.buffer))) {
        data = data.slice();
      }
      if (ArrayBuffer.isView(data)) transfer.push(data.buffer);
      outputs[name] = { data, dims: t.dims, type: t.type };
    }
    return [{ outputs }, transfer];
  }
  if (msg.op === 'release') {
    const s = session;
    session = null;
    if (s) await s.release();
    return [{}, []];
  }
  throw new Error('unknown operation ' + msg.op);
}

parentPort.on('message', (msg) => {
  handle(msg).then(
    ([reply, transfer]) => parentPort.postMessage({ id: msg.id, ...reply }, transfer),
    (e) => parentPort.postMessage({ id: msg.id, error: { name: e && e.name ? String(e.name) : 'Error', message: e && e.message !== undefined ? String(e.message) : String(e) } }),
  );
});
`;
