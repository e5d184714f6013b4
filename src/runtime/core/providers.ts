// Tries execution providers in order. ORT does not fall back by itself: creating a CUDA session
// without the CUDA libraries rejects (FACTS.md), and so does WebGPU without an adapter.
import { errorMessage, MissingDependencyError, ModelLoadError, ProviderError, UnresolvedModuleError } from './errors.js';
import type { ExecutionProvider, InferenceHandle, Logger, RuntimePlatform } from './platform.js';

export function providerName(p: ExecutionProvider): string {
  return typeof p === 'string' ? p : p.name;
}

/**
 * ORT's messages when the graph itself is unreadable. Such a failure is not the provider's
 * fault: reporting "all providers failed" would send the user after drivers instead of the file.
 */
const MODEL_FAILURE = /protobuf|failed to load model|INVALID_GRAPH|INVALID_PROTOBUF|NO_MODEL|IR version|opset/i;

function firstLine(s: string): string {
  return (s.split('\n').find((l) => l.trim().length > 0) ?? s).trim();
}

export async function createSessionWithFallback(
  platform: RuntimePlatform,
  model: Uint8Array,
  providers: readonly ExecutionProvider[],
  logger: Logger | null,
): Promise<{ session: InferenceHandle; provider: string }> {
  if (providers.length === 0) throw new TypeError('executionProviders must name at least one provider');
  const failures: { provider: string; reason: string }[] = [];
  for (const p of providers) {
    try {
      const session = await platform.createSession(model, p);
      const provider = providerName(p);
      if (failures.length > 0) {
        const why = failures.map((f) => `'${f.provider}' (${f.reason})`).join(', ');
        logger?.warn(`ganomaly: execution provider ${why} unavailable; using '${provider}'`);
      }
      return { session, provider };
    } catch (e) {
      // No provider can help when ONNX Runtime itself is not installed or not mapped: say what to fix.
      if (e instanceof MissingDependencyError || e instanceof UnresolvedModuleError) throw e;
      failures.push({ provider: providerName(p), reason: firstLine(errorMessage(e)) });
    }
  }
  const last = failures[failures.length - 1]!;
  if (MODEL_FAILURE.test(last.reason) && !/shared library|backend|adapter|provider/i.test(last.reason)) {
    throw new ModelLoadError(`ONNX Runtime could not load the model: ${last.reason}`);
  }
  const list = failures.map((f) => `${f.provider}: ${f.reason}`).join('; ');
  throw new ProviderError(failures, `no execution provider could run the model (${list})`);
}
