// The code of the health listener's worker thread (see health-listener.ts): a plain JavaScript
// string started with `new Worker(code, { eval: true })`, like the decode and session workers.
//
// It owns its own event loop and listening socket, so a probe is accepted and answered however
// busy the main thread is. (libuv ≥ 1.45 accepts one connection per loop iteration: on the main
// port a probe's new connection waits behind every connection of a burst — measured 90–230 ms
// behind 128 uploads on 2 cores, while the main loop itself never stalled more than 90 ms.) It
// still reports the main thread's health: the main thread stamps `beat` every few hundred ms, and
// a stamp older than stallMs turns /healthz into a 503.
//
// workerData: { host, port, stallMs, shared }   shared: SharedArrayBuffer, [0] = beat (ms, BigInt64), [8] = state (Int32)
// state: 0 starting, 1 ready, 2 draining, 3 not ready
// Protocol: ← { port } once listening, or { error }; → { reason, state: 3 } (not ready, and why);
// → 'close' ← exits once its server has closed.
export const HEALTH_WORKER_SOURCE = String.raw`
'use strict';
const http = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const beat = new BigInt64Array(workerData.shared, 0, 1);
const state = new Int32Array(workerData.shared, 8, 1);
const ROUTES = { '/healthz': true, '/readyz': true };
let notReadyReason = '';

function send(res, status, body, extra) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...extra });
  res.end(text);
}

const server = http.createServer({ keepAlive: true, connectionsCheckingInterval: 1000 }, (req, res) => {
  const path = (req.url || '/').split('?')[0];
  if (!ROUTES[path]) return send(res, 404, { error: { code: 'not_found', message: 'the health port serves /healthz and /readyz' } });
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: { code: 'method_not_allowed', message: path + ' takes GET' } }, { allow: 'GET, HEAD' });
  const silentMs = Date.now() - Number(Atomics.load(beat, 0));
  if (silentMs > workerData.stallMs) {
    return send(res, 503, { status: 'stalled', message: 'the server thread has not run for ' + silentMs + ' ms' });
  }
  if (path === '/healthz') return send(res, 200, { status: 'ok' });
  const s = Atomics.load(state, 0);
  if (s === 1) return send(res, 200, { status: 'ready' });
  if (s === 3) return send(res, 503, { status: 'not_ready', reason: notReadyReason });
  return send(res, 503, { status: s === 2 ? 'shutting_down' : 'starting' });
});
// Probes are tiny and local: whoever holds a connection longer, or opens hundreds, is not one,
// and must not cost the process its file descriptors. Node's own header and request timers are
// checked only every connectionsCheckingInterval, and a full server (maxConnections) refuses the
// newcomer: 130 idle sockets then kept every probe out for 40 s. So the cap is enforced here, by
// eviction: a new connection past MAX_SOCKETS closes the oldest connection that has not completed
// a request yet (a probe completes one within milliseconds of connecting; an idle or trickling
// socket never does), else the one that has waited longest since its last answer (a keep-alive
// prober between probes). Idle sockets are also reaped after IDLE_MS by their own timers.
const MAX_SOCKETS = 128;
const IDLE_MS = 5000;
server.headersTimeout = IDLE_MS;
server.requestTimeout = IDLE_MS;
server.keepAliveTimeout = IDLE_MS;
server.setTimeout(IDLE_MS); // no 'timeout' listener: an inactive socket is destroyed
// Open sockets, oldest first (a Set iterates in insertion order): never answered, and answered.
const unanswered = new Set();
const answered = new Set();
server.on('connection', (socket) => {
  unanswered.add(socket);
  socket.once('close', () => {
    unanswered.delete(socket);
    answered.delete(socket);
  });
  if (unanswered.size + answered.size <= MAX_SOCKETS) return;
  const oldest = unanswered.values().next().value;
  (oldest !== socket ? oldest : answered.values().next().value).destroy();
});
server.on('request', (req, res) => res.once('finish', () => {
  const socket = req.socket;
  if (!unanswered.delete(socket) && !answered.delete(socket)) return; // closed meanwhile
  answered.add(socket); // now the most recently answered
}));
server.on('clientError', (err, socket) => socket.destroy());
server.once('error', (e) => parentPort.postMessage({ error: e.message }));
server.listen(workerData.port, workerData.host, () => parentPort.postMessage({ port: server.address().port }));
parentPort.on('message', (m) => {
  if (m && typeof m.reason === 'string') {
    notReadyReason = m.reason;
    Atomics.store(state, 0, m.state);
  }
  if (m !== 'close') return;
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
`;
