#!/usr/bin/env node
// Serves the browser demos (examples/web: score; examples/learn: train in the page) on 127.0.0.1 with what onnxruntime-web needs: cross-origin
// isolation headers (COOP/COEP, for WASM threads), application/wasm and text/javascript types, ORT's
// .wasm/.mjs files from node_modules (self-hosted, no CDN), and one model folder under /model/.
// The demo module is bundled with esbuild on request, so no build output is committed.
//
//   node scripts/serve-web.mjs --model <model dir> [--port 8080] [--host 127.0.0.1]
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DEMO_DIR = join(ROOT, 'examples', 'web');
const LEARN_DIR = join(ROOT, 'examples', 'learn');
const ORT_DIST = join(ROOT, 'node_modules', 'onnxruntime-web', 'dist');
const TFJS_WASM_DIST = join(ROOT, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist');

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.map': 'application/json; charset=utf-8',
};

const HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
};

/** Resolves `rel` inside `base`, or returns null if it would escape it. */
function inside(base, rel) {
  const p = normalize(join(base, rel));
  return p === base || p.startsWith(base + sep) ? p : null;
}

async function fileIfExists(p) {
  if (!p) return null;
  const s = await stat(p).catch(() => null);
  return s?.isFile() ? p : null;
}

/** esbuild context for a demo module; rebuilt per request so edits show up on reload. */
async function demoBundler(dir) {
  const esbuild = await import('esbuild');
  const ctx = await esbuild.context({
    entryPoints: [join(dir, 'app.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    sourcemap: 'inline',
    // ORT's "extern wasm" build loads its .mjs and .wasm from wasmPaths (this server), not inlined.
    conditions: ['onnxruntime-web-use-extern-wasm'],
    logLevel: 'silent',
  });
  return {
    async build() {
      const r = await ctx.rebuild();
      return r.outputFiles[0].contents;
    },
    dispose: () => ctx.dispose(),
  };
}

/**
 * Starts the server. `model` is a folder served under /model/ (optional). Resolves to its URL
 * and a close() function. Port 0 picks a free port.
 */
export async function startServer({ model, port = 0, host = '127.0.0.1', log = () => {} } = {}) {
  const modelDir = model ? resolve(model) : null;
  if (modelDir && !(await stat(modelDir).catch(() => null))?.isDirectory()) {
    throw new Error(`model folder ${modelDir} does not exist`);
  }
  const bundler = await demoBundler(DEMO_DIR);
  const learnBundler = await demoBundler(LEARN_DIR);

  const server = createServer(async (req, res) => {
    const send = (status, body, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { ...HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      let file = null;
      if (path === '/app.js') {
        return send(200, Buffer.from(await bundler.build()), MIME['.js']);
      } else if (path === '/learn/app.js') {
        return send(200, Buffer.from(await learnBundler.build()), MIME['.js']);
      } else if (path === '/learn/' || path === '/learn/index.html') {
        file = join(LEARN_DIR, 'index.html');
      } else if (/^\/learn\/ort-wasm-[\w.-]+\.(wasm|mjs)$/.test(path)) {
        file = await fileIfExists(inside(ORT_DIST, path.slice('/learn/'.length)));
      } else if (/^\/learn\/tfjs-backend-wasm[\w.-]*\.wasm$/.test(path)) {
        file = await fileIfExists(inside(TFJS_WASM_DIST, path.slice('/learn/'.length)));
      } else if (path === '/' || path === '/index.html') {
        file = join(DEMO_DIR, 'index.html');
      } else if (/^\/ort-wasm-[\w.-]+\.(wasm|mjs)$/.test(path)) {
        file = await fileIfExists(inside(ORT_DIST, path.slice(1)));
      } else if (path.startsWith('/model/')) {
        file = modelDir ? await fileIfExists(inside(modelDir, path.slice('/model/'.length))) : null;
      } else {
        file = await fileIfExists(inside(DEMO_DIR, path.slice(1)));
      }
      if (!file) {
        log(`404 ${path}`);
        return send(404, `not found: ${path}`);
      }
      send(200, await readFile(file), MIME[extname(file).toLowerCase()] ?? 'application/octet-stream');
    } catch (e) {
      log(`500 ${req.url}: ${e?.message ?? e}`);
      send(500, String(e?.message ?? e));
    }
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, ok);
  });
  const addr = server.address();
  const url = `http://${host}:${addr.port}/`;
  return {
    url,
    async close() {
      server.closeAllConnections?.();
      await new Promise((ok) => server.close(() => ok()));
      await bundler.dispose();
      await learnBundler.dispose();
    },
  };
}

async function main() {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', short: 'm' },
      port: { type: 'string', short: 'p', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('Usage: node scripts/serve-web.mjs --model <model dir> [--port 8080] [--host 127.0.0.1]');
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0-65535; got ${values.port}`);
  if (!values.model) console.warn('no --model given: /model/ will be empty; the page can still load a model from another URL');
  const { url } = await startServer({ model: values.model, port, host: values.host, log: (m) => console.log(m) });
  console.log(`ganomaly web demo on ${url}${values.model ? ` (model: ${resolve(values.model)} at ${url}model/)` : ''}`);
  console.log(`"learn normal" (train in the page) on ${url}learn/`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e) => {
    console.error(`serve-web: ${e?.message ?? e}`);
    process.exitCode = 1;
  });
}
