// The output side of `watch`: configuration, events, snapshots and sinks (one index; the input
// side and the CLI import from here).
export {
  formatProblem, loadWatchConfig, parseWatchConfig, watchConfigFromFlags, WatchConfigError, WATCH_DEFAULTS,
  type CameraConfig, type ConfigProblem, type EventsConfig, type FfmpegConfig, type HttpConfig, type ModelConfig, type MqttConfig,
  type ParseOptions, type Roi, type SinksConfig, type SnapshotsConfig, type WatchConfig, type WatchFlags, type WatchPrecision, type WebhookConfig,
} from './config.js';
export { EventTracker, type AnomalyEvent, type EndReason, type EventTrackerOptions, type EventTransition, type EventType, type ScoredFrame } from './events.js';
export { renderSnapshot, snapshotName, SnapshotError, SnapshotStore, type SnapshotFile, type SnapshotInput, type SnapshotStoreOptions } from './snapshots.js';
export { CAMERA_STATES, stateMessage, stderrLog, type CameraState, type CameraStateMessage, type EventSink, type SinkStats, type WatchLog } from './sinks/sink.js';
export { JsonlSink, type JsonlSinkOptions } from './sinks/jsonl.js';
export { WebhookSink, type WebhookSinkOptions } from './sinks/webhook.js';
export { MqttSink, mqttTopics, type MqttSinkOptions } from './sinks/mqtt.js';
export { createSinks } from './sinks/create.js';
