// The package's own version, read from its package.json at run time (works from src/ and dist/).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function packageVersion(): string {
  if (cached) return cached;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'ganomaly-edge' && pkg.version) return (cached = pkg.version);
    } catch { /* keep walking up */ }
    dir = path.dirname(dir);
  }
  return (cached = '0.0.0-unknown');
}
