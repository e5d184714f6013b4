// A static file server for built fixture pages on 127.0.0.1, with or without cross-origin
// isolation (COOP/COEP: what WASM threads need), recording what each page load fetched.
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { gzipSync } from 'node:zlib';

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.png': 'image/png',
};

export interface Fetched {
  path: string;
  bytes: number;
  /** Size gzip -6 would serve it at: what a compressing server or CDN transfers. */
  gzipBytes: number;
}

export interface StaticServer {
  url: string;
  /** Files served since the last reset(). */
  fetched: Fetched[];
  reset(): void;
  close(): Promise<void>;
}

export async function serveFolder(root: string, opts: { isolated: boolean }): Promise<StaticServer> {
  const fetched: Fetched[] = [];
  const gzipCache = new Map<string, number>();
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = normalize(join(root, path === '/' ? 'index.html' : path));
    const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
    if (opts.isolated) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
    }
    const s = file.startsWith(root + sep) || file === root ? await stat(file).catch(() => null) : null;
    if (!s?.isFile()) {
      res.writeHead(404, headers).end(`not found: ${path}`);
      return;
    }
    const body = await readFile(file);
    let gz = gzipCache.get(file);
    if (gz === undefined) gzipCache.set(file, (gz = gzipSync(body).length));
    fetched.push({ path, bytes: body.length, gzipBytes: gz });
    res.writeHead(200, { ...headers, 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream', 'Content-Length': String(body.length) });
    res.end(body);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    fetched,
    reset: () => void fetched.splice(0),
    close: () => new Promise<void>((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}
