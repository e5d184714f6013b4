// The docs' tables of numeric option ranges, generated from the one table (src/option-ranges.ts),
// so the docs cannot drift from what the code enforces. Each block sits between
//   <!-- option-ranges: train score -->   and   <!-- /option-ranges -->
// in the files below; test/unit/cli/option-ranges.test.ts fails when a block differs from this
// output. Rewrite them with:
//   npm run docs:ranges
import { readFileSync, writeFileSync } from 'node:fs';
import { OPTION_RANGES, rangeDocText, type NumericOption } from '../src/option-ranges.js';

export const RANGE_DOC_FILES = ['README.md', 'docs/serve.md', 'packages/gateway/README.md'];

type Command = keyof typeof OPTION_RANGES;

const TITLES: Record<Command, string> = {
  train: '`ganomaly train` (library: `train()` TrainConfig, `trainInBrowser` config)',
  export: '`ganomaly export` (library: `exportRun` options)',
  quantize: '`ganomaly quantize`',
  score: '`ganomaly score` (library: `createDetector`, `renderHeatmapPng`)',
  eval: '`ganomaly eval` (library: `evaluateModel` options)',
  triton: '`ganomaly triton` (library: `writeTritonRepository` options)',
  serve: '`serve` (library: `startServer` ServeOptions)',
  watch: '`watch` (flags and the YAML file)',
  runtime: 'the runtime (library: `createDetector`, `renderHeatmapPng`)',
  browser: '`@ganomaly-edge/browser` (library: `trainInBrowser`, `selectBrowserBackend`)',
};

/** The markdown of one command's ranges. */
export function rangeTable(command: Command): string {
  const entries = Object.values(OPTION_RANGES[command]) as NumericOption[];
  if (entries.length === 0) return `${TITLES[command]}: no numeric options.`;
  const rows = entries.map((o) => `| ${o.flag ? `\`--${o.flag}\`` : '—'} | ${o.field ? `\`${o.field}\`` : '—'} | ${rangeDocText(o)} | ${o.unit ?? ''} |`);
  return [`${TITLES[command]}:`, '', '| option | library field | range | unit |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

const BLOCK = /(<!-- option-ranges: ([a-z ]+) -->\n)([\s\S]*?)(<!-- \/option-ranges -->)/g;

/** A document with every range block regenerated. */
export function withRangeTables(text: string): string {
  return text.replace(BLOCK, (_m, open: string, list: string, _old: string, close: string) => {
    const commands = list.trim().split(/\s+/) as Command[];
    for (const c of commands) if (!(c in OPTION_RANGES)) throw new Error(`unknown command '${c}' in an option-ranges block`);
    return `${open}${commands.map(rangeTable).join('\n\n')}\n${close}`;
  });
}

/** The commands each file's blocks list. */
export function rangeBlocks(text: string): string[][] {
  return [...text.matchAll(BLOCK)].map((m) => m[2]!.trim().split(/\s+/));
}

// Run as a script (npm run docs:ranges passes --write); imported by the test, it writes nothing.
if (process.argv.includes('--write')) {
  for (const file of RANGE_DOC_FILES) {
    const text = readFileSync(file, 'utf8');
    const next = withRangeTables(text);
    if (next !== text) {
      writeFileSync(file, next);
      console.log(`updated ${file}`);
    }
  }
}
