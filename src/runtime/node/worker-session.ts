// An InferenceHandle whose onnxruntime-node session lives in a worker thread. session.run()
// holds the Node event loop for the whole run (tens of ms per batch on a small CPU), so a server
// scoring in its main thread cannot even answer a health check meanwhile. In a worker, the main
// thread only posts the input and receives the outputs, both moved by transfer.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { ModelLoadError } from '../core/errors.js';
import { ortSessionOptions } from '../core/ort-adapter.js';
import type { ExecutionProvider, FloatTensor, InferenceHandle } from '../core/platform.js';
import { SESSION_WORKER_SOURCE } from './session-worker-source.js';

export interface WorkerSessionOptions {
  /** Extra options for InferenceSession.create (intraOpNumThreads, …). */
  sessionOptions?: Record<string, unknown>;
  /** ORT's process-wide log level; undefined lowers ORT's default 'warning' to 'fatal' (as in-process). */
  logLevel?: string;
}

interface Reply {
  id: number;
  error?: { name: string; message: string };
  inputNames?: string[];
  outputNames?: string[];
  outputs?: Record<string, { data: unknown; dims: number[]; type: string }>;
}

let ortPath: string | undefined;

/** The error the worker reported, rebuilt with its name so it reads as it would in-process. */
function rebuild(e: { name: string; message: string }): Error {
  const err = new Error(e.message);
  if (e.name !== 'Error') err.name = e.name;
  return err;
}

/** One worker thread, one session; requests are matched to replies by id. */
class SessionWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(r: Reply): void; reject(e: unknown): void }>();
  private nextId = 0;
  private exited: Error | null = null;

  constructor() {
    ortPath ??= createRequire(import.meta.url).resolve('onnxruntime-node');
    this.worker = new Worker(SESSION_WORKER_SOURCE, { eval: true, workerData: { ortPath } });
    // An idle worker must not keep the process alive, as an in-process session does not.
    this.worker.unref();
    this.worker.on('message', (r: Reply) => this.settle(r));
    this.worker.on('error', (e) => this.fail(new Error(`the ONNX Runtime worker thread failed: ${e.message}`)));
    this.worker.on('exit', (code) => this.fail(new Error(`the ONNX Runtime worker thread exited (code ${code})`)));
  }

  request(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      try {
        this.worker.postMessage({ ...msg, id }, transfer);
      } catch (e) {
        // Not cloneable (a function in sessionOptions, …): nothing was sent, nothing will answer.
        this.settle({ id, error: { name: 'TypeError', message: `cannot pass to the ONNX Runtime worker thread: ${e instanceof Error ? e.message : String(e)}` } });
      }
    });
  }

  async terminate(): Promise<void> {
    this.exited ??= new Error('the ONNX Runtime session has been released');
    await this.worker.terminate();
  }

  private settle(r: Reply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    if (this.pending.size === 0) this.worker.unref();
    if (r.error) p.reject(rebuild(r.error));
    else p.resolve(r);
  }

  private fail(e: Error): void {
    this.exited ??= e;
    for (const p of this.pending.values()) p.reject(this.exited);
    this.pending.clear();
  }
}

/**
 * Creates an ONNX Runtime session on exactly one provider inside a new worker thread; rejects
 * (and stops the worker) if that provider cannot be used, as platform.createSession must.
 * run() transfers the input's buffer to the worker: the caller must not reuse it.
 */
export async function createWorkerSession(model: Uint8Array, provider: ExecutionProvider, opts: WorkerSessionOptions = {}): Promise<InferenceHandle> {
  const w = new SessionWorker();
  let names: Reply;
  try {
    names = await w.request({ op: 'create', model, provider, options: ortSessionOptions(provider, opts.sessionOptions), logLevel: opts.logLevel });
  } catch (e) {
    await w.terminate();
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
        () => w.terminate(),
        async (e) => {
          await w.terminate();
          throw e;
        },
      );
      return released;
    },
  };
}
