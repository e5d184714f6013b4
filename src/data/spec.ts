// Dataset specs as users write them (CLI --data, API): named datasets, idx:<dir>, folder:<dir>.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { DataError } from './errors.js';
import { FASHION_MNIST_CLASSES, MNIST_CLASSES } from './idx.js';

export type DataSpec =
  | { kind: 'idx'; name: 'fashion-mnist' | 'mnist' | 'idx'; dir: string; classNames?: readonly string[] }
  | { kind: 'folder'; name: 'folder'; dir: string };

const DATA_SPEC_FORMS =
  "'fashion-mnist', 'mnist', 'idx:<dir>' (MNIST-style IDX files) or 'folder:<dir>' (<dir>/normal and <dir>/abnormal image files)";

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export interface NamedDataset {
  env: string;
  dir: string;
  classNames: readonly string[];
  install: string;
}

/** Named IDX datasets: where Debian installs them, and the variable that overrides it. */
export const NAMED_DATASETS: Record<'fashion-mnist' | 'mnist', NamedDataset> = {
  'fashion-mnist': {
    env: 'GANOMALY_FASHION_MNIST_DIR',
    dir: '/usr/share/datasets/fashion-mnist',
    classNames: FASHION_MNIST_CLASSES,
    install: 'apt-get install dataset-fashion-mnist (Debian)',
  },
  mnist: {
    env: 'GANOMALY_MNIST_DIR',
    dir: '/usr/share/datasets/mnist',
    classNames: MNIST_CLASSES,
    install: 'download the four MNIST IDX files into it (Debian has no MNIST package)',
  },
};

/** Resolves a spec to a folder that exists; `env` and `named` are injectable for tests. */
export function resolveDataSpec(spec: string, env: NodeJS.ProcessEnv = process.env, named = NAMED_DATASETS): DataSpec {
  const entry = Object.hasOwn(named, spec) ? named[spec as keyof typeof named] : undefined;
  if (entry) {
    const fromEnv = env[entry.env];
    const dir = resolve(fromEnv || entry.dir);
    if (!isDirectory(dir)) {
      throw new DataError(
        fromEnv
          ? `${entry.env}=${fromEnv} is not a directory`
          : `${spec} not found at ${entry.dir}: ${entry.install} or set ${entry.env} to a folder holding its IDX files`,
      );
    }
    return { kind: 'idx', name: spec as 'fashion-mnist' | 'mnist', dir, classNames: entry.classNames };
  }
  const m = /^(idx|folder):(.+)$/.exec(spec);
  if (!m) throw new DataError(`unknown dataset '${spec}'; use ${DATA_SPEC_FORMS}`);
  const dir = resolve(m[2]!);
  if (!isDirectory(dir)) throw new DataError(`${spec}: ${dir} is not a directory`);
  return m[1] === 'idx' ? { kind: 'idx', name: 'idx', dir } : { kind: 'folder', name: 'folder', dir };
}
