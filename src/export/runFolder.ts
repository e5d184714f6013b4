// Reads a training run folder (config.json + checkpoint) back into a config and weights.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { planParams, ganomalyPlans } from '../train/architecture.js';
import { CheckpointError, loadCheckpoint } from '../train/checkpoint.js';
import type { TrainConfig } from '../config/train-config.js';
import type { WeightMap } from '../types.js';
import { MAX_RUN_JSON_BYTES, readTextFile } from '../io/read.js';
import { ExportError } from './errors.js';

export interface RunFolder {
  dir: string;
  config: TrainConfig;
  weights: WeightMap;
  /** Completed epochs and steps of the epoch in progress when the checkpoint was written. */
  epoch: number;
  step: number;
}

export async function readRunFolder(dir: string): Promise<RunFolder> {
  const abs = path.resolve(dir);
  const stat = await fs.stat(abs).catch(() => null);
  if (!stat?.isDirectory()) throw new ExportError(`run folder ${abs} does not exist`);
  let config: TrainConfig;
  try {
    config = JSON.parse(await readTextFile(path.join(abs, 'config.json'), MAX_RUN_JSON_BYTES, 'config.json')) as TrainConfig;
  } catch (e) {
    throw new ExportError(`${abs} is not a complete run folder: config.json is missing or unreadable (${(e as Error).message.split('\n')[0]})`);
  }
  if (!config.model || typeof config.model.isize !== 'number') throw new ExportError(`${abs}/config.json has no model section`);
  let ck;
  try {
    ck = await loadCheckpoint<{ epoch: number; step: number }>(abs);
  } catch (e) {
    if (e instanceof CheckpointError) throw new ExportError(`${abs}: ${e.message}`);
    throw e;
  }
  const plans = ganomalyPlans(config.model);
  const weights: WeightMap = {};
  for (const net of ['GE', 'GD', 'E', 'D'] as const) {
    for (const p of planParams(plans[net])) {
      const t = ck.tensors[p.name];
      if (!t) throw new ExportError(`${abs}: checkpoint lacks weight '${p.name}' for the configured model`);
      if (t.shape.join() !== p.shape.join()) throw new ExportError(`${abs}: weight '${p.name}' has shape [${t.shape}], config needs [${p.shape}]`);
      for (const v of t.data) if (!Number.isFinite(v)) throw new ExportError(`${abs}: weight '${p.name}' contains NaN or Infinity; the run diverged`);
      weights[p.name] = t;
    }
  }
  return { dir: abs, config, weights, epoch: ck.state.epoch, step: ck.state.step };
}
