// Paired comparison of two accuracy-bench variants (e.g. fused vs unfused training) over the
// same classes and seeds: per-pair latent AUCs, the mean difference, its spread and a paired t,
// set against the seed spread per class. Reads bench/accuracy.ts JSON files; prints a table and
// writes JSON.
//
//   node .tmp/accuracy-pairs.mjs --a 'fused=.tmp/acc-fused-s*.json' --b 'unfused=.tmp/acc-unfused-s*.json' --out bench/results/x.json
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { a: { type: 'string' }, b: { type: 'string' }, out: { type: 'string' } } });
if (!values.a || !values.b) throw new Error("give --a 'name=glob' and --b 'name=glob'");

interface Row { cls: number; name: string; aucLatent: number; fusedKernels?: boolean; trainSeconds?: number }
interface Run { budget: { seed: number; name: string }; rows: Row[]; date: string }

/** Files matching a pattern whose last part may hold '*' wildcards (no globbing in Node 20's fs). */
function matching(pattern: string): string[] {
  const dir = dirname(pattern);
  const re = new RegExp(`^${basename(pattern).split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return readdirSync(dir).filter((f) => re.test(f)).map((f) => join(dir, f));
}

function load(spec: string) {
  const [name, pattern] = spec.split('=') as [string, string];
  const files = pattern.split(',').flatMap(matching).sort();
  const auc = new Map<string, { auc: number; file: string; trainSeconds?: number }>();
  for (const file of files) {
    const run = JSON.parse(readFileSync(file, 'utf8')) as Run;
    for (const r of run.rows) auc.set(`${r.cls}/${run.budget.seed}`, { auc: r.aucLatent, file, trainSeconds: r.trainSeconds });
  }
  return { name, files, auc };
}

const A = load(values.a);
const B = load(values.b);
const keys = [...A.auc.keys()].filter((k) => B.auc.has(k)).sort((x, y) => {
  const [c1, s1] = x.split('/').map(Number) as [number, number];
  const [c2, s2] = y.split('/').map(Number) as [number, number];
  return c1 - c2 || s1 - s2;
});
if (keys.length < 2) throw new Error(`fewer than 2 class/seed pairs in both (${keys.length})`);
const pairs = keys.map((k) => {
  const [cls, seed] = k.split('/').map(Number) as [number, number];
  const a = A.auc.get(k)!.auc;
  const b = B.auc.get(k)!.auc;
  return { cls, seed, [A.name]: a, [B.name]: b, delta: a - b };
});
const mean = (x: number[]) => x.reduce((p, q) => p + q, 0) / x.length;
const sd = (x: number[]) => Math.sqrt(x.reduce((p, q) => p + (q - mean(x)) ** 2, 0) / (x.length - 1));
const deltas = pairs.map((p) => p.delta);
const t = mean(deltas) / (sd(deltas) / Math.sqrt(deltas.length));
// Seed spread: per class, the sample sd of AUC over seeds (each variant), then the mean over classes.
const classes = [...new Set(pairs.map((p) => p.cls))];
const seedSd = (v: string) => mean(classes.map((c) => sd(pairs.filter((p) => p.cls === c).map((p) => p[v] as number))).filter((x) => Number.isFinite(x)));
const summary = {
  pairs: pairs.length,
  [`mean_${A.name}`]: mean(pairs.map((p) => p[A.name] as number)),
  [`mean_${B.name}`]: mean(pairs.map((p) => p[B.name] as number)),
  meanDelta: mean(deltas),
  sdDelta: sd(deltas),
  pairedT: t,
  lower: deltas.filter((d) => d < 0).length,
  equal: deltas.filter((d) => d === 0).length,
  higher: deltas.filter((d) => d > 0).length,
  seedSd: { [A.name]: seedSd(A.name), [B.name]: seedSd(B.name) },
};
console.log(`class  seed  ${A.name.padStart(9)}  ${B.name.padStart(9)}       Δ`);
for (const p of pairs) console.log(`${String(p.cls).padStart(5)}  ${String(p.seed).padStart(4)}  ${(p[A.name] as number).toFixed(4).padStart(9)}  ${(p[B.name] as number).toFixed(4).padStart(9)}  ${p.delta >= 0 ? '+' : ''}${p.delta.toFixed(4)}`);
console.log(`mean Δ ${summary.meanDelta.toFixed(4)} (sd ${summary.sdDelta.toFixed(4)}, paired t ${t.toFixed(2)}, ${summary.pairs} pairs: ${summary.lower} lower, ${summary.higher} higher); seed sd ${A.name} ${summary.seedSd[A.name]!.toFixed(4)}, ${B.name} ${summary.seedSd[B.name]!.toFixed(4)}`);
if (values.out) {
  writeFileSync(values.out, JSON.stringify({ date: new Date().toISOString(), a: { name: A.name, files: A.files }, b: { name: B.name, files: B.files }, pairs, summary }, null, 2) + '\n');
  console.log(`wrote ${values.out}`);
}
