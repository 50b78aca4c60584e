// Images in a bundle: `docker save` of every image at once (a layer shared by several images is
// written once), repacked without the layers the site already holds. `docker load` skips a
// layer the engine has (by chain ID) and needs the file only for the others, so a delta loads
// on top of what the previous bundle brought; the importer checks that before loading.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type Docker from 'dockerode';
import tar from 'tar-stream';
import type { BundleImage } from './format.js';

interface SavedManifestEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

/** The chain ID of each layer position, as the engine keys layers (image-spec `ChainID`). */
export function chainIds(diffIds: string[]): string[] {
  const chain: string[] = [];
  for (const diffId of diffIds) {
    const previous = chain[chain.length - 1];
    chain.push(previous === undefined ? diffId : `sha256:${createHash('sha256').update(`${previous} ${diffId}`).digest('hex')}`);
  }
  return chain;
}

/** `docker save` of `refs` into `file`. */
export async function saveImages(docker: Docker, refs: string[], file: string): Promise<void> {
  // dockerode has `getImages` (GET /images/get?names=…); its typings lack it.
  const exporter = docker as unknown as { getImages(options: { names: string[] }): Promise<NodeJS.ReadableStream> };
  const stream = await exporter.getImages({ names: refs });
  await pipeline(stream, createWriteStream(file));
}

/** Reads `manifest.json` and the image configs of a `docker save` archive: which file holds which layer. */
async function readSaveLayout(file: string): Promise<{ manifest: SavedManifestEntry[]; configs: Map<string, { rootfs?: { diff_ids?: string[] } }> }> {
  const small = new Map<string, Buffer>();
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const name = header.name.replace(/^\.\//, '');
    if (header.type === 'file' && (name === 'manifest.json' || /^[0-9a-f]{64}\.json$/.test(name) || /^blobs\/sha256\/[0-9a-f]{64}$/.test(name)) && (header.size ?? 0) < 4 * 1024 * 1024) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => { small.set(name, Buffer.concat(chunks)); next(); });
    } else {
      stream.on('end', () => next());
      stream.resume();
    }
  });
  await pipeline(createReadStream(file), extract);
  const manifestBytes = small.get('manifest.json');
  if (!manifestBytes) throw new Error('docker save wrote no manifest.json');
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as SavedManifestEntry[];
  const configs = new Map<string, { rootfs?: { diff_ids?: string[] } }>();
  for (const entry of manifest) {
    const bytes = small.get(entry.Config);
    if (!bytes) throw new Error(`docker save wrote no ${entry.Config}`);
    configs.set(entry.Config, JSON.parse(bytes.toString('utf8')));
  }
  return { manifest, configs };
}

/**
 * Copies the `docker save` archive `savedFile` to `outFile` without the layers in `skip`
 * (diff IDs), and describes each image as the index lists it.
 */
export async function repackImages(savedFile: string, outFile: string, refs: string[], imageIds: Map<string, string>, skip: Set<string>,
  progress: (message: string) => void): Promise<BundleImage[]> {
  const { manifest, configs } = await readSaveLayout(savedFile);
  const layerOfPath = new Map<string, string>();
  for (const entry of manifest) {
    const diffIds = configs.get(entry.Config)?.rootfs?.diff_ids ?? [];
    if (diffIds.length !== entry.Layers.length) throw new Error(`docker save: ${entry.Config} lists ${diffIds.length} layers, manifest.json ${entry.Layers.length}`);
    entry.Layers.forEach((layerPath, index) => layerOfPath.set(layerPath, diffIds[index]));
  }
  const layerBytes = new Map<string, number>();
  const extract = tar.extract();
  const pack = tar.pack();
  let carriedLayers = 0;
  extract.on('entry', (header, stream, next) => {
    const name = header.name.replace(/^\.\//, '');
    const layer = layerOfPath.get(name);
    if (layer !== undefined && skip.has(layer)) {
      stream.on('end', () => next());
      stream.resume();
      return;
    }
    if (layer !== undefined) {
      layerBytes.set(layer, header.size ?? 0);
      carriedLayers++;
      progress(`layer ${layer.slice(7, 19)} ${header.size ?? 0} bytes`);
    }
    stream.pipe(pack.entry(header, (error) => (error ? extract.destroy(error) : next())));
  });
  extract.on('finish', () => pack.finalize());
  await Promise.all([pipeline(createReadStream(savedFile), extract), pipeline(pack, createWriteStream(outFile))]);
  progress(`${carriedLayers} layer(s) carried, ${skip.size === 0 ? 'none' : 'the others'} left to the site`);

  return refs.map((ref) => {
    const id = imageIds.get(ref) as string;
    const entry = manifest.find((candidate) => `sha256:${candidate.Config.replace(/^blobs\/sha256\//, '').replace(/\.json$/, '')}` === id);
    const layers = entry ? configs.get(entry.Config)?.rootfs?.diff_ids ?? [] : [];
    const carried = layers.filter((layer) => layerBytes.has(layer));
    return { ref, id, layers, carried: [...new Set(carried)], carriedBytes: [...new Set(carried)].reduce((sum, layer) => sum + (layerBytes.get(layer) ?? 0), 0) };
  });
}

/** Every layer chain ID this engine holds, read from its images. */
export async function localChainIds(docker: Docker): Promise<Set<string>> {
  const held = new Set<string>();
  for (const summary of await docker.listImages()) {
    const info = await docker.getImage(summary.Id).inspect().catch(() => undefined);
    for (const chainId of chainIds(info?.RootFS?.Layers ?? [])) held.add(chainId);
  }
  return held;
}

/** `docker load` of a staged, verified archive; fails on any error the engine reports in its stream. */
export async function loadImages(docker: Docker, file: string): Promise<string[]> {
  const stream = (await docker.loadImage(createReadStream(file), { quiet: true })) as unknown as NodeJS.ReadableStream;
  const events = await new Promise<Array<{ stream?: string; error?: string; errorDetail?: { message?: string } }>>((resolve, reject) => {
    docker.modem.followProgress(stream, (error: Error | null, all: Array<{ stream?: string; error?: string }>) => (error ? reject(error) : resolve(all ?? [])));
  });
  const failed = events.find((event) => event.error || event.errorDetail);
  if (failed) throw new Error(failed.errorDetail?.message ?? failed.error ?? 'docker load failed');
  return events.flatMap((event) => (event.stream ? [event.stream.trim()] : [])).filter((line) => line !== '');
}
