// Typed access to scripts/serve-web.mjs (plain JS, so the demo server runs without a build step).
export interface WebServer {
  url: string;
  close(): Promise<void>;
}

export async function startWebServer(opts: { model?: string; log?: (m: string) => void } = {}): Promise<WebServer> {
  const href = new URL('../../scripts/serve-web.mjs', import.meta.url).href;
  const mod = (await import(/* @vite-ignore */ href)) as { startServer(o: typeof opts): Promise<WebServer> };
  return mod.startServer(opts);
}
