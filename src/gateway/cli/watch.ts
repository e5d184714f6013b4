// `ganomaly-gateway watch` (and the toolkit's `ganomaly watch`): parses a gateway YAML file or the
// single-camera flags into a WatchConfig, runs startWatch until SIGTERM/SIGINT, then ends open
// events and exits 0. Events go to the configured sinks; the gateway's own log is JSON lines on
// stderr, so stdout carries nothing but events when the JSON-lines sink writes there.
import { parseCommandArgs, rangedOption, UsageError } from '../../cli-args.js';
import { WATCH_RANGES } from '../../option-ranges.js';
import { loadWatchConfig, watchConfigFromFlags, type WatchConfig, type WatchFlags } from '../watch/config.js';
import { stderrLog, type WatchLog } from '../watch/sinks/sink.js';
import { startWatch } from '../watch/watch.js';

export const watchHelp = (prog: string) => `Usage: ${prog} watch --config <gateway.yaml>
       ${prog} watch --source <url|file|dir> --model <model dir> [options]

Watches cameras (rtsp:// over TCP, http(s):// MJPEG/HLS, /dev/video*, video files, image folders),
scores their frames with a prebuilt model and publishes anomaly events (JSON lines, webhook, MQTT)
with JPEG snapshots. The system ffmpeg decodes, crops and scales every video source.

Many cameras:
  --config <file>            gateway YAML file (cameras, model, events, snapshots, sinks, http, ffmpeg)
One camera, without a file (defaults as in the file):
  --source <url|path>        camera URL, video file, or a folder watched for new images
  --model <dir>              model folder (manifest.json + detector.onnx)
  --name <name>              camera name in events, topics and file names (default camera)
  --fps <n>                  frames sampled per second, 0.1-60 (default 5)
  --roi <x,y,w,h>            region of interest in source pixels (default the whole frame)
  --loop                     video files: start again at the end
  --threshold <x>            raw-score threshold, ≥ 0 (default the model's)
  --execution-providers <l>  ONNX Runtime providers in order (default cuda,cpu)
  --precision <p>            fp32 | fp16 | int8 (default fp32)
  --start-frames <n>         frames over the threshold that start an event, 1-1000 (default 3)
  --end-frames <n>           frames under it that end the event, 1-10000 (default 5)
  --update-frames <n>        at most this many frames between update messages, 1-100000 (default 25)
  --min-score <x>            also require this normalised score, 0-1
  --snapshots <dir>          write JPEG snapshots (frame + heatmap) here
  --jsonl <path|->           events as JSON lines to a file or stdout (default stdout when no sink is given)
  --webhook <url>            POST each event as JSON
  --mqtt <url> [--mqtt-prefix <p>]   publish to an MQTT broker (default prefix ganomaly)
  --port <n>                 /metrics, /healthz, /readyz, /cameras, 0-65535 (default 8080)
  --health-port <n>          health probes on their own thread, 0-65535 (default 8081)
  --host <addr>              listen address (default 127.0.0.1)
  --ffmpeg <path>            the ffmpeg executable (default ffmpeg on PATH)
  -h, --help                 show this help

SIGTERM or Ctrl-C ends open events (reason "shutdown"), flushes the sinks and exits 0.`;

const FLAG_OPTIONS = {
  config: { type: 'string' }, source: { type: 'string' }, model: { type: 'string' }, name: { type: 'string' }, fps: { type: 'string' },
  roi: { type: 'string' }, loop: { type: 'boolean' }, threshold: { type: 'string' }, 'execution-providers': { type: 'string' },
  precision: { type: 'string' }, 'start-frames': { type: 'string' }, 'end-frames': { type: 'string' }, 'update-frames': { type: 'string' },
  'min-score': { type: 'string' }, snapshots: { type: 'string' }, jsonl: { type: 'string' }, webhook: { type: 'string' }, mqtt: { type: 'string' },
  'mqtt-prefix': { type: 'string' }, port: { type: 'string' }, 'health-port': { type: 'string' }, host: { type: 'string' }, ffmpeg: { type: 'string' },
} as const;

/** Builds the configuration from --config or the single-camera flags; mixing the two is a usage error. */
export async function watchConfigFromArgs(argv: string[]): Promise<WatchConfig | null> {
  const { values: v, positionals } = parseCommandArgs(argv, FLAG_OPTIONS, false);
  if (v.help) return null;
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  // Each number against its range in the table, at parse time: one line naming the flag.
  const R = WATCH_RANGES;
  for (const [text, range] of [
    [v.fps, R.fps], [v.threshold, R.threshold], [v['start-frames'], R.startFrames], [v['end-frames'], R.endFrames],
    [v['update-frames'], R.updateFrames], [v['min-score'], R.minScore], [v.port, R.port], [v['health-port'], R.healthPort],
  ] as const) rangedOption(text, range);
  const flags: WatchFlags = {
    source: v.source, model: v.model, name: v.name, fps: v.fps, roi: v.roi, loop: v.loop, threshold: v.threshold,
    executionProviders: v['execution-providers'], precision: v.precision, startFrames: v['start-frames'], endFrames: v['end-frames'],
    updateFrames: v['update-frames'], minScore: v['min-score'], snapshots: v.snapshots, jsonl: v.jsonl === '-' ? 'stdout' : v.jsonl,
    webhook: v.webhook, mqtt: v.mqtt, mqttPrefix: v['mqtt-prefix'], port: v.port, healthPort: v['health-port'], host: v.host, ffmpeg: v.ffmpeg,
  };
  if (v.config !== undefined) {
    const mixed = Object.entries(flags).filter(([, x]) => x !== undefined).map(([k]) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
    if (mixed.length) throw new UsageError(`--config takes everything from the file; drop ${mixed.join(', ')} (or drop --config for one camera)`);
    return loadWatchConfig(v.config);
  }
  if (v.source === undefined || v.model === undefined) throw new UsageError('give --config <gateway.yaml>, or --source <url|path> and --model <dir> for one camera');
  return watchConfigFromFlags(flags, { baseDir: process.cwd() });
}

export async function runWatch(argv: string[], prog = 'ganomaly-gateway', log: WatchLog = stderrLog): Promise<number> {
  const config = await watchConfigFromArgs(argv);
  if (!config) {
    console.log(watchHelp(prog));
    return 0;
  }
  const watch = await startWatch(config, { log });
  log({ msg: 'watching', cameras: config.cameras.map((c) => c.name), url: watch.url, healthUrl: watch.healthUrl });
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log({ msg: 'stopping', signal });
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await watch.close();
  log({ msg: 'stopped' });
  return 0;
}
