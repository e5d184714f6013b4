// The layout follows the data (issue 22): shared layers (data, io, config, backend, progress) are
// imported by every stage; export, eval, gateway and browser take from train/ only the model
// (architecture, network, weights); the runtime is reached only through its public entries; and
// no module imports itself back through a cycle. Read from the sources, not from a build.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = 'src';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sources(p) : /\.ts$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Every import of a file: static, re-exports, type-only and dynamic `import()`. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^import\s*['"]([^'"]+)['"]/gm)]
    .map((m) => m[1] ?? m[2] ?? m[3]!);
}

/** A relative specifier as the .ts file it names, relative to the repository. */
function resolveRelative(from: string, spec: string): string {
  return normalize(join(dirname(from), spec)).replace(/\.js$/, '.ts');
}

const FILES = sources(SRC);
const GRAPH = new Map(FILES.map((f) => [f, importsOf(f)]));
const relativeEdges = (f: string) => GRAPH.get(f)!.filter((s) => s.startsWith('.') && !s.endsWith('.json')).map((s) => resolveRelative(f, s));
const area = (f: string) => relative(SRC, f).split('/')[0]!;

describe('source layout', () => {
  it('finds the sources and their imports', () => {
    expect(FILES.length).toBeGreaterThan(100);
    expect(relativeEdges(join(SRC, 'export', 'exportRun.ts'))).toContain(join(SRC, 'export', 'model-folder.ts'));
    for (const f of FILES) for (const t of relativeEdges(f)) expect(GRAPH.has(t), `${f} imports ${t}, which is not a source file`).toBe(true);
  });

  it('has no import cycle', () => {
    // Tarjan's strongly connected components over the relative imports.
    const index = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const onStack = new Set<string>();
    const cycles: string[][] = [];
    let next = 0;
    const visit = (v: string) => {
      index.set(v, next);
      low.set(v, next++);
      stack.push(v);
      onStack.add(v);
      for (const w of relativeEdges(v)) {
        if (!index.has(w)) {
          visit(w);
          low.set(v, Math.min(low.get(v)!, low.get(w)!));
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
      if (low.get(v) === index.get(v)) {
        const scc: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          scc.push(w);
        } while (w !== v);
        if (scc.length > 1 || relativeEdges(v).includes(v)) cycles.push(scc);
      }
    };
    for (const f of FILES) if (!index.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it('export, eval, gateway and browser take from train/ only the model: architecture, network, weights', () => {
    const MODEL = ['architecture.ts', 'model.ts', 'checkpoint.ts'].map((f) => join(SRC, 'train', f));
    // The in-page trainer runs the training loop itself: the one browser file that may.
    const IN_PAGE_TRAINER = { file: join(SRC, 'browser', 'train.ts'), may: [join(SRC, 'train', 'loop.ts')] };
    const bad: string[] = [];
    for (const f of FILES.filter((x) => ['export', 'eval', 'gateway', 'browser'].includes(area(x)))) {
      for (const t of relativeEdges(f).filter((x) => area(x) === 'train')) {
        const allowed = MODEL.includes(t) || (f === IN_PAGE_TRAINER.file && IN_PAGE_TRAINER.may.includes(t));
        if (!allowed) bad.push(`${f} → ${t}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('outside the runtime, code reaches it only through its public entries', () => {
    const bad: string[] = [];
    for (const f of FILES.filter((x) => area(x) !== 'runtime')) {
      for (const t of relativeEdges(f)) if (area(t) === 'runtime') bad.push(`${f} → ${t}`);
      for (const s of GRAPH.get(f)!.filter((x) => x.startsWith('@ganomaly-edge/runtime'))) {
        if (!['@ganomaly-edge/runtime', '@ganomaly-edge/runtime/node', '@ganomaly-edge/runtime/web'].includes(s)) bad.push(`${f} → ${s}`);
      }
    }
    expect(bad).toEqual([]);
    // The gateway runs in Node: the Node entry, nothing else of the runtime.
    const gateway = FILES.filter((x) => area(x) === 'gateway').flatMap((f) => GRAPH.get(f)!.filter((s) => s.startsWith('@ganomaly-edge/runtime')));
    expect(gateway.length).toBeGreaterThan(0);
    expect(new Set(gateway)).toEqual(new Set(['@ganomaly-edge/runtime/node']));
  });

  it('the gateway package takes nothing of training: only its own files, the runtime and the shared plumbing', () => {
    // What the gateway bundle may pull in besides src/gateway: small shared modules with no tfjs.
    const SHARED = [join(SRC, 'cli-args.ts'), join(SRC, 'renamed-option.ts'), join(SRC, 'types.ts'), join(SRC, 'option-ranges.ts')];
    const GATEWAY = FILES.filter((x) => area(x) === 'gateway');
    expect(GATEWAY).toContain(join(SRC, 'gateway', 'serve', 'server.ts'));
    const bad: string[] = [];
    const seen = new Set<string>();
    // Transitively: a shared module that imported train/ would bring it into the gateway's bundle.
    const walk = (f: string, via: string) => {
      if (seen.has(f)) return;
      seen.add(f);
      for (const s of GRAPH.get(f)!) if (/^@tensorflow\/|^ganomaly-edge(\/|$)|^webgpu$/.test(s)) bad.push(`${via} → ${s}`);
      for (const t of relativeEdges(f)) {
        if (['train', 'export', 'backend', 'eval', 'data', 'cli', 'browser', 'serve', 'runtime'].includes(area(t))) bad.push(`${via} → ${t}`);
        else if (area(t) !== 'gateway' && area(t) !== 'workers' && !SHARED.includes(t)) bad.push(`${via} → ${t} (not a shared module)`);
        walk(t, `${via} → ${t}`);
      }
    };
    for (const f of GATEWAY) walk(f, f);
    expect(bad).toEqual([]);
  });

  it('outside src/gateway, code reaches the gateway only through its package name', () => {
    const bad: string[] = [];
    for (const f of FILES.filter((x) => area(x) !== 'gateway')) {
      for (const t of relativeEdges(f)) if (area(t) === 'gateway') bad.push(`${f} → ${t}`);
      for (const s of GRAPH.get(f)!.filter((x) => x.startsWith('@ganomaly-edge/gateway'))) {
        if (!['@ganomaly-edge/gateway', '@ganomaly-edge/gateway/cli'].includes(s)) bad.push(`${f} → ${s}`);
      }
    }
    expect(bad).toEqual([]);
    // The toolkit's serve subpath and CLI delegate to it.
    expect(GRAPH.get(join(SRC, 'serve', 'index.ts'))).toContain('@ganomaly-edge/gateway');
    expect(GRAPH.get(join(SRC, 'cli', 'gateway.ts'))).toContain('@ganomaly-edge/gateway/cli');
  });

  it('the runtime imports nothing of the toolkit beyond the shared types, the option ranges and the worker channel', () => {
    // option-ranges.ts is data and checks without imports: the one table of numeric ranges every package checks against.
    const ALLOWED = [join(SRC, 'types.ts'), join(SRC, 'option-ranges.ts')];
    const bad: string[] = [];
    for (const f of FILES.filter((x) => area(x) === 'runtime')) {
      for (const t of relativeEdges(f)) if (area(t) !== 'runtime' && !ALLOWED.includes(t) && area(t) !== 'workers') bad.push(`${f} → ${t}`);
    }
    expect(bad).toEqual([]);
  });

  it('shared layers (data, io, config, progress) do not import the stages that use them', () => {
    const STAGES = ['export', 'eval', 'serve', 'gateway', 'browser', 'cli'];
    const bad: string[] = [];
    for (const f of FILES.filter((x) => ['data', 'io', 'config', 'progress.ts'].includes(area(x)))) {
      for (const t of relativeEdges(f)) if (STAGES.includes(area(t))) bad.push(`${f} → ${t}`);
    }
    expect(bad).toEqual([]);
  });
});
