import Docker from 'dockerode';
import * as fs from 'node:fs';
import { join } from 'node:path';
import http from 'isomorphic-git/http/node';
import { loadKeyring } from '../../secrets/index.js';
import { systemClock } from '../clock.js';
import type { Logger } from '../log.js';
import { Reconciler } from '../reconcile.js';
import { createGitSource } from '../source/index.js';
import { openDb } from '../state/db.js';
import { loadHashKey } from '../state/hash-key.js';
import { StateStore } from '../state/store.js';
import type { AgentConfig } from './config.js';

// The composition root: the only place that wires real Docker, git, the clock and the
// logger into the stages. Everything else receives them as parameters.

export function openStore(config: AgentConfig): StateStore {
  return new StateStore(openDb(join(config.stateDir, 'capstan.db')));
}

export function connectDocker(): Docker {
  // DOCKER_HOST (unix:// or tcp://) is honoured by docker-modem; default is the local socket.
  return new Docker();
}

export function createReconciler(config: AgentConfig, store: StateStore, logger: Logger): Reconciler {
  const source = createGitSource(
    { repo: config.repo, branch: config.branch, stateDir: config.stateDir, token: config.gitToken, username: config.gitUsername },
    { fs, http, logger: logger.child({ stage: 'source' }), clock: systemClock },
  );
  return new Reconciler({
    source,
    docker: connectDocker(),
    store,
    logger,
    clock: systemClock,
    node: config.node,
    path: config.path,
    allowEmpty: config.allowEmpty,
    hashKey: loadHashKey(config.stateDir),
    // Read whenever a new commit is loaded, so a key added to the file (rotation) needs no restart.
    keyring: config.keyFile ? () => loadKeyring(config.keyFile as string) : undefined,
  });
}
