// An app and its services as normalized, before the config hash: the hash needs the whole
// service, so it is added last (index.ts). Its own file so that the checks over drafts
// (app-checks.ts, ../checks.ts) and the hash need not import the normalizer that makes them.
import type { App, Service } from '../../model.js';

export type ServiceDraft = Omit<Service, 'configHash'>;
export type AppDraft = Omit<App, 'services'> & { services: ServiceDraft[] };
