// The four exported graphs (GE, GD, E, detector) with the metadata every graph carries, built and
// structurally validated in one place for `ganomaly export` and the browser export. No Node modules.
import { MANIFEST_CORE_METADATA_KEY } from '@ganomaly-edge/runtime';
import type { ModelConfig, WeightMap } from '../types.js';
import { ExportError } from './errors.js';
import type { manifestCore } from './manifest.js';
import { buildDetector, buildE, buildGD, buildGE, validateModelBytes, type BuildOptions } from './onnx/index.js';

export type GraphName = 'GE' | 'GD' | 'E' | 'detector';

export interface GraphStamp {
  core: ReturnType<typeof manifestCore>;
  /** sha256 of JSON.stringify(core): links each graph to the manifest written beside it. */
  coreHash: string;
  producerVersion: string;
  /** An extra sentence for the graphs' doc string (e.g. where the model was trained). */
  note?: string;
}

/** Build options for one graph: opset, producer, doc string and the ganomaly.* metadata. */
export function graphOptions(cfg: ModelConfig, stamp: GraphStamp, what: string): BuildOptions {
  const { core } = stamp;
  return {
    opset: core.opset,
    producerVersion: stamp.producerVersion,
    docString: `GANomaly ${what}; isize ${cfg.isize}, nc ${cfg.nc}, nz ${cfg.nz}, ngf ${cfg.ngf}.${stamp.note ? ` ${stamp.note}` : ''} See manifest.json.`,
    metadata: {
      [MANIFEST_CORE_METADATA_KEY]: stamp.coreHash,
      'ganomaly.schema_version': String(core.schemaVersion),
      'ganomaly.score_kind': cfg.scoreKind,
      'ganomaly.preprocessing': JSON.stringify(core.preprocessing),
    },
  };
}

/** GE, GD, E and the fused detector, each validated; an invalid graph is an ExportError naming it. */
export function buildGraphs(cfg: ModelConfig, weights: WeightMap, stamp: GraphStamp): Record<GraphName, Uint8Array> {
  const opts = (what: string) => graphOptions(cfg, stamp, what);
  const graphs: Record<GraphName, Uint8Array> = {
    GE: buildGE(cfg, weights, opts('encoder GE: x -> z')),
    GD: buildGD(cfg, weights, opts('decoder GD: z -> x_hat')),
    E: buildE(cfg, weights, opts('encoder E: x_hat -> z_hat')),
    detector: buildDetector(cfg, weights, opts('detector: x -> score, z, z_hat, x_hat, anomaly_map')),
  };
  for (const [k, bytes] of Object.entries(graphs)) {
    try {
      validateModelBytes(bytes);
    } catch (e) {
      throw new ExportError(`${k}.onnx failed structural validation: ${(e as Error).message}`);
    }
  }
  return graphs;
}
