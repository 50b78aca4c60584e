// Builds a service's image from the commit's checkout through the Docker API: the context is the
// list load/files/build-context.ts digested (so what is built is what the tag names; passed in as
// `listContext`, so execution imports no loader code), tarred as it is sent. Build arguments may hold secrets: every value is masked in the output logged and in the
// error thrown.
import type Docker from 'dockerode';
import { createReadStream } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import tar from 'tar-stream';
import type { Logger } from '../../log.js';
import type { BuildSpec } from '../../model.js';
import { KEPT_BYTES, KEPT_LINES, lastLines } from '../../output/bounded.js';
import { redactValues } from '../../redact.js';
import { OutputKeptError } from './execute-kept-output.js';

const MASK = '***';

/** Replaces every build argument value (of 4 characters or more: shorter ones would mask noise) in `text`. */
export function maskValues(text: string, values: string[]): string {
  let masked = text;
  for (const value of values.filter((candidate) => candidate.length >= 4).sort((left, right) => right.length - left.length)) {
    masked = masked.split(value).join(MASK);
  }
  return masked;
}

/** Lists a build context's files as the loader digested them (load/files/build-context.ts `listContext`). */
export type ContextLister = (contextDir: string, dockerfile: string) => Promise<{ path: string; kind: 'file' | 'folder' | 'link' }[]>;

/** The context as a tar stream, entries added as the stream is read. */
async function contextTar(build: BuildSpec, listContext: ContextLister): Promise<NodeJS.ReadableStream> {
  const entries = await listContext(build.context, build.dockerfile);
  const pack = tar.pack();
  void (async () => {
    try {
      for (const entry of entries) {
        const absolute = join(build.context, entry.path);
        const info = await lstat(absolute);
        const header = { name: entry.path, mode: info.mode & 0o7777, mtime: new Date(0) };
        if (entry.kind === 'folder') pack.entry({ ...header, type: 'directory' });
        else if (entry.kind === 'link') pack.entry({ ...header, type: 'symlink', linkname: await readlink(absolute) });
        else {
          await new Promise<void>((resolve, reject) => {
            const sink = pack.entry({ ...header, type: 'file', size: info.size }, (error) => (error ? reject(error) : resolve()));
            createReadStream(absolute).on('error', reject).pipe(sink);
          });
        }
      }
      pack.finalize();
    } catch (error) {
      pack.destroy(error as Error);
    }
  })();
  return pack;
}

interface BuildEvent {
  stream?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/**
 * Builds `image`. On failure the last lines of the build's output (bounded, build arguments and
 * `sensitive` values masked) are logged and carried by the error, which the reconciler keeps in
 * SQLite with the failed cycle.
 */
export async function buildImage(
  docker: Docker,
  image: string,
  build: BuildSpec,
  labels: Record<string, string>,
  logger: Logger,
  context: { listContext: ContextLister; sensitive?: readonly string[] },
): Promise<void> {
  const sensitive = [...(context.sensitive ?? [])];
  const secrets = Object.values(build.args);
  const options: Record<string, unknown> = { t: image, dockerfile: build.dockerfile, buildargs: build.args, labels, rm: true, forcerm: true };
  if (build.target !== undefined) options.target = build.target;
  // A rolling window of the output, twice the lines kept: enough for the tail, bounded whatever the build prints.
  const recent: string[] = [];
  const scrub = (text: string) => redactValues(maskValues(text, secrets), sensitive);
  const fail = (message: string, cause?: unknown) => {
    const output = scrub(lastLines(recent.join('\n'), KEPT_LINES, KEPT_BYTES));
    if (output !== '') logger.error({ image, output }, 'build failed; its last output');
    return new OutputKeptError(
      'BUILD_FAILED',
      `building ${image} from ${build.contextPath} failed: ${scrub(message)}`,
      { image, context: build.contextPath },
      { kind: 'build', subject: image, exitCode: null, output },
      { cause },
    );
  };
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.buildImage(await contextTar(build, context.listContext), options);
  } catch (error) {
    throw fail(error instanceof Error ? error.message : String(error));
  }
  const events = await new Promise<BuildEvent[]>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (error: Error | null, all: BuildEvent[]) => (error ? reject(fail(error.message)) : resolve(all ?? [])),
      (event: BuildEvent) => {
        const text = event.stream ?? (event.error ? `${event.error}\n` : undefined);
        for (const line of (text ?? '').split('\n')) {
          if (line.trim() === '') continue;
          recent.push(line.slice(0, KEPT_BYTES));
          if (recent.length > 2 * KEPT_LINES) recent.shift();
          logger.debug({ image, output: scrub(line) }, 'build output');
        }
      },
    );
  });
  const failed = events.find((event) => event.error || event.errorDetail);
  if (failed) throw fail(failed.errorDetail?.message ?? failed.error ?? 'unknown error');
}
