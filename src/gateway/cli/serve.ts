// `ganomaly-gateway serve` (and the toolkit's `ganomaly serve`, which delegates here): the HTTP
// server (../serve) with signals wired: SIGTERM or SIGINT stops accepting, answers every accepted
// request, and exits 0; a second signal exits at once.
import { executionProvidersOption, parseCommandArgs, precisionOption, rangedOption, UsageError } from '../../cli-args.js';
import { SERVE_RANGES } from '../../option-ranges.js';
import { jsonLines } from '../serve/logging.js';
import { resolveHealthPort, SERVE_DEFAULTS, startServer } from '../serve/server.js';

const help = (prog: string) => `Usage: ${prog} serve --model <model dir> [options]

Serves an exported model over HTTP. Concurrent requests are micro-batched into shared ONNX
Runtime runs. Logs one JSON line per request on stdout. See docs/serve.md.

  POST /v1/score         body: image/png, image/jpeg, image/webp, or application/octet-stream
                         raw 8-bit pixels with headers x-width, x-height, x-channels (1-4)
                         → {score, normalized, isAnomaly, threshold, model, latencyMs}
                         ?heatmap=1 adds a base64 PNG heatmap; Accept: image/png returns the PNG
  POST /v1/score:batch   multipart/form-data, one image per part → {results: [...]} in order
  GET  /healthz /readyz /metrics (Prometheus) /v1/model (manifest)
                         /readyz: 503 until one probe image has scored within --timeout-ms
                         after start (503 not_ready, with the reason, if it did not)

Options:
  -m, --model <dir|url>   model folder (manifest.json + detector.onnx), required
  --port <n>              port (default ${SERVE_DEFAULTS.port}; 0 = any free port)
  --host <addr>           address to listen on (default ${SERVE_DEFAULTS.host}; 0.0.0.0 = all)
  --health-port <n>       serve /healthz and /readyz also on this port, from a thread of their
                          own: answered within milliseconds under any load (point probes here);
                          /healthz there turns 503 if the server thread stops for 10 s.
                          0-65535 (0 = any free port); default: --port + 1 (8081), any free
                          port when --port is 0
  --no-health-port        no health port (probes then share the main port)
  --execution-providers <list>
                          ONNX Runtime execution providers to try in order (default cuda,cpu)
  --providers <list>      deprecated: the old name of --execution-providers
  --max-batch <n>         most images per ONNX Runtime run (default ${SERVE_DEFAULTS.maxBatch}; 1 = no batching)
  --max-wait-ms <ms>      how long a request waits for others to share its run (default ${SERVE_DEFAULTS.maxWaitMs})
  --max-queue <n>         most images admitted at once; beyond it 503 (default 8 × max-batch)
  --max-body <size>       largest request body, e.g. 10mb, 512kb (default 10mb)
  --max-pixels <n>        largest decoded image in pixels (default ${SERVE_DEFAULTS.limitInputPixels})
  --max-decoded <size>    memory decoding may hold at once over all requests: each image
                          reserves what its decode really takes (per format, interlacing and
                          orientation, read from its header before decoding); an image over it
                          gets 413, the others wait their turn (default 256mb)
  --decode-wait-ms <ms>   longest wait for decode room, then 503 (default ${SERVE_DEFAULTS.decodeWaitMs})
  --decode-timeout-ms <ms> longest one image may take to decode, then 422 decode_timeout
                          (default ${SERVE_DEFAULTS.decodeTimeoutMs})
  --decode-concurrency <n> decode worker threads, one image each at a time (default: CPU
                          count − 1, 1 to 3), plus one that decodes only images up to 2.1
                          megapixels; decoded pixels never reach the server thread
  --timeout-ms <ms>       decode + score deadline per request, then 504 (default ${SERVE_DEFAULTS.timeoutMs})
  --body-timeout-ms <ms>  deadline to receive a request body, then 408 (default ${SERVE_DEFAULTS.bodyTimeoutMs})
  --threshold <x>         raw-score threshold (default: the manifest's)
  --threads <n>           ONNX Runtime intra-op threads (default: ORT's choice)
  --session-in-main-thread  run ONNX Runtime in the main thread instead of a worker thread
                          (health checks and 503s then wait while a batch is scored)
  --precision <p>         fp32 (default), fp16 or int8: which of the model's detectors to serve
  --skip-integrity        do not check detector.onnx against the manifest's sha256
  -q, --quiet             no per-request log lines (lifecycle lines still go to stdout)
  -h, --help              show this help`;

/** Runs `<prog> serve <argv>` until SIGTERM/SIGINT; `prog` names the command in --help and errors. */
export async function runServe(argv: string[], prog = 'ganomaly-gateway'): Promise<number> {
  const { values: v } = parseCommandArgs(
    argv,
    {
      model: { type: 'string', short: 'm' }, port: { type: 'string' }, 'health-port': { type: 'string' }, 'no-health-port': { type: 'boolean' }, host: { type: 'string' },
      'execution-providers': { type: 'string' }, providers: { type: 'string' },
      'max-batch': { type: 'string' }, 'max-wait-ms': { type: 'string' }, 'max-queue': { type: 'string' }, 'max-body': { type: 'string' },
      'max-pixels': { type: 'string' }, 'timeout-ms': { type: 'string' }, 'body-timeout-ms': { type: 'string' },
      'max-decoded': { type: 'string' }, 'decode-wait-ms': { type: 'string' }, 'decode-concurrency': { type: 'string' },
      'decode-timeout-ms': { type: 'string' },
      threshold: { type: 'string' }, threads: { type: 'string' }, 'skip-integrity': { type: 'boolean' }, precision: { type: 'string' },
      'session-in-main-thread': { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' },
    },
    false,
  );
  if (v.help) {
    console.log(help(prog));
    return 0;
  }
  if (!v.model) throw new UsageError(`--model <model dir> is required (${prog} serve --model <dir>)`);
  if (v['no-health-port'] && v['health-port'] !== undefined) throw new UsageError('give --health-port <n> or --no-health-port, not both');
  const executionProviders = executionProvidersOption(v['execution-providers'], v.providers, 'providers');
  // Every number is checked against its range here, before the model loads (option-ranges.ts).
  const R = SERVE_RANGES;
  const threads = rangedOption(v.threads, R.threads);
  const options = {
    port: rangedOption(v.port, R.port),
    healthPort: v['no-health-port'] ? (false as const) : rangedOption(v['health-port'], R.healthPort),
    maxBatch: rangedOption(v['max-batch'], R.maxBatch),
    maxWaitMs: rangedOption(v['max-wait-ms'], R.maxWaitMs),
    maxQueue: rangedOption(v['max-queue'], R.maxQueue),
    maxBodyBytes: rangedOption(v['max-body'], R.maxBodyBytes),
    limitInputPixels: rangedOption(v['max-pixels'], R.limitInputPixels),
    maxDecodedBytes: rangedOption(v['max-decoded'], R.maxDecodedBytes),
    decodeWaitMs: rangedOption(v['decode-wait-ms'], R.decodeWaitMs),
    decodeTimeoutMs: rangedOption(v['decode-timeout-ms'], R.decodeTimeoutMs),
    decodeConcurrency: rangedOption(v['decode-concurrency'], R.decodeConcurrency),
    timeoutMs: rangedOption(v['timeout-ms'], R.timeoutMs),
    bodyTimeoutMs: rangedOption(v['body-timeout-ms'], R.bodyTimeoutMs),
    threshold: rangedOption(v.threshold, R.threshold),
  };
  // The health port's default (port + 1) must exist too; checked now, not after the model load.
  if (options.healthPort !== false) resolveHealthPort(options.port ?? SERVE_DEFAULTS.port, options.healthPort);
  const write = jsonLines(process.stdout);

  const server = await startServer({
    model: v.model,
    host: v.host,
    executionProviders,
    ...options,
    verifyIntegrity: !v['skip-integrity'],
    precision: precisionOption(v.precision),
    sessionInWorker: !v['session-in-main-thread'],
    sessionOptions: threads ? { intraOpNumThreads: threads } : undefined,
    log: v.quiet ? (e) => (e.msg === 'request' ? undefined : write(e)) : write,
  });

  const signals = ['SIGTERM', 'SIGINT'] as const;
  const exitNow = () => process.exit(130); // a second signal: stop waiting for the drain
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      write({ msg: 'signal', signal });
      for (const s of signals) process.off(s, stop).on(s, exitNow);
      resolve();
    };
    for (const s of signals) process.on(s, stop);
  });
  try {
    await server.close();
  } finally {
    for (const s of signals) process.off(s, exitNow);
  }
  return 0;
}
