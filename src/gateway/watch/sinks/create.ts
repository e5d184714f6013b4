// The sinks a config asks for, built in one place so the CLI and library users get the same ones.
import type { SinksConfig } from '../config.js';
import { JsonlSink } from './jsonl.js';
import { MqttSink } from './mqtt.js';
import type { EventSink, WatchLog } from './sink.js';
import { WebhookSink } from './webhook.js';

export function createSinks(config: SinksConfig, log?: WatchLog): EventSink[] {
  const sinks: EventSink[] = [];
  const withLog = log ? { log } : {};
  if (config.jsonl !== undefined) sinks.push(new JsonlSink({ target: config.jsonl, ...withLog }));
  if (config.webhook) sinks.push(new WebhookSink({ ...config.webhook, ...withLog }));
  if (config.mqtt) sinks.push(new MqttSink({ ...config.mqtt, ...withLog }));
  return sinks;
}
