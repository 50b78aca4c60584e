export { defaultRetryPolicy, retryDelayMs } from './backoff.js';
export { classifyStatus } from './deliver.js';
export { newEvent, redact, redactEvent, type NotificationEvent } from './events.js';
export { formatRequest } from './format.js';
export { Notifier, type NotifierDeps } from './notifier.js';
export { parseNotifyTargets, type SecretSources } from './parse-targets.js';
export { NotificationQueue } from './queue.js';
export { targetKey, type NotifyTarget } from './targets.js';
