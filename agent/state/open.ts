import { join } from 'node:path';
import { openDb, type Db } from './db.js';
import { StateStore } from './store.js';

// Opening the state database alone, for the commands that only read it (`status`, `history`):
// they load SQLite and nothing of the cycle (git, the loader, the targets).

/** The state database, for the store and for the notification queue and metrics that share it. */
export function openState(config: { stateDir: string }): { db: Db; store: StateStore } {
  const db = openDb(join(config.stateDir, 'capstan.db'));
  return { db, store: new StateStore(db) };
}

export function openStore(config: { stateDir: string }): StateStore {
  return openState(config).store;
}
