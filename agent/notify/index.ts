export { defaultRetryPolicy, retryDelayMs, type RetryPolicy } from './backoff.js';
export { classifyStatus, deliver, type DeliveryResult, type FetchFn } from './deliver.js';
export { EVENT_KINDS, isEventKind, newEvent, redact, redactEvent, REDACTED, type EventKind, type NotificationEvent } from './events.js';
export { formatRequest, SIGNATURE_HEADER, signBody, webhookBody, type OutgoingRequest } from './format.js';
export { Notifier, type NotifierDeps, type PumpSummary } from './notifier.js';
export { parseNotifyTargets, type SecretSources } from './parse-targets.js';
export { NotificationQueue, type QueuedNotification, type QueueState } from './queue.js';
export { TARGET_KINDS, targetKey, wantsEvent, type NotifyTarget, type TargetKind } from './targets.js';
