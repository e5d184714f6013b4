// An InferenceHandle whose onnxruntime-node session lives in a worker thread. session.run()
// holds the Node event loop for the whole run (tens of ms per batch on a small CPU), so a server
// scoring in its main thread cannot even answer a health check meanwhile. In a worker, the main
// thread only posts the input and receives the outputs, both moved by transfer.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { ModelLoadError } from '../core/errors.js';
import { ortSessionOptions } from '../core/ort-adapter.js';
import type { ExecutionProvider, FloatTensor, InferenceHandle } from '../core/platform.js';
import { WorkerChannel, type WorkerReply } from '../../workers/request-reply.js';
import { SESSION_WORKER_SOURCE } from './session-worker-source.js';

export interface WorkerSessionOptions {
  /** Extra options for InferenceSession.create (intraOpNumThreads, …). */
  sessionOptions?: Record<string, unknown>;
  /** ORT's process-wide log level; undefined lowers ORT's default 'warning' to 'fatal' (as in-process). */
  logLevel?: string;
}

interface Reply extends WorkerReply {
  inputNames?: string[];
  outputNames?: string[];
  outputs?: Record<string, { data: unknown; dims: number[]; type: string }>;
}

let ortPath: string | undefined;

/** One worker thread, one session. */
function startSessionWorker(): WorkerChannel<Reply> {
  ortPath ??= createRequire(import.meta.url).resolve('onnxruntime-node');
  return new WorkerChannel<Reply>(new Worker(SESSION_WORKER_SOURCE, { eval: true, workerData: { ortPath } }), { what: 'the ONNX Runtime worker thread' });
}

/**
 * Creates an ONNX Runtime session on exactly one provider inside a new worker thread; rejects
 * (and stops the worker) if that provider cannot be used, as platform.createSession must.
 * run() transfers the input's buffer to the worker: the caller must not reuse it.
 */
export async function createWorkerSession(model: Uint8Array, provider: ExecutionProvider, opts: WorkerSessionOptions = {}): Promise<InferenceHandle> {
  const w = startSessionWorker();
  const terminate = () => w.close(new Error('the ONNX Runtime session has been released'));
  let names: Reply;
  try {
    names = await w.request({ op: 'create', model, provider, options: ortSessionOptions(provider, opts.sessionOptions), logLevel: opts.logLevel });
  } catch (e) {
    await terminate();
    throw e;
  }
  let released: Promise<void> | undefined;
  return {
    inputNames: names.inputNames!,
    outputNames: names.outputNames!,
    async run(inputName, input, fetch) {
      const data = input.data;
      const transfer = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? [data.buffer as ArrayBuffer] : [];
      const { outputs = {} } = await w.request({ op: 'run', feeds: { [inputName]: { data, dims: input.dims } }, fetch }, transfer);
      const result: Record<string, FloatTensor> = {};
      for (const name of fetch) {
        const t = outputs[name];
        if (!t || !(t.data instanceof Float32Array)) {
          throw new ModelLoadError(`output '${name}' is ${t ? `of type ${t.type}` : 'missing'}; expected float32`);
        }
        result[name] = { data: t.data, dims: t.dims };
      }
      return result;
    },
    release() {
      released ??= w.request({ op: 'release' }).then(
        () => terminate(),
        async (e) => {
          await terminate();
          throw e;
        },
      );
      return released;
    },
  };
}
