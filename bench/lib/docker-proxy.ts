import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

export interface DockerCall {
  method: string;
  /** Path without the query string, e.g. `/v1.41/containers/json`. */
  path: string;
  /** performance.now() when the request arrived, and how long the engine took to answer it. */
  startedAt: number;
  durationMs?: number;
}

/**
 * A pass-through proxy on a unix socket in front of the Docker engine, counting the API calls
 * that go through it. Tools reach it with DOCKER_HOST=unix://<socketPath> (dockerode and
 * docker-py both honour it). Anything but GET and HEAD changes something and counts as a write.
 */
export class CountingDockerProxy {
  readonly socketPath: string;
  private calls: DockerCall[] = [];
  private readonly server: http.Server;

  private constructor(dir: string, private readonly upstream: string) {
    this.socketPath = join(dir, 'docker.sock');
    this.server = http.createServer((request, response) => this.forward(request, response));
    // `docker attach`/`exec` hijack the connection; forwarded byte for byte after the head.
    this.server.on('upgrade', (request: http.IncomingMessage, socket: net.Socket, head: Buffer) => this.tunnel(request, socket, head));
  }

  static async start(dir: string, upstream = '/var/run/docker.sock'): Promise<CountingDockerProxy> {
    const proxy = new CountingDockerProxy(dir, upstream);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(proxy.socketPath, resolve);
    });
    return proxy;
  }

  get dockerHost(): string {
    return `unix://${this.socketPath}`;
  }

  /** The calls since the last reset, and starts a new count. */
  take(): DockerCall[] {
    return this.calls.splice(0);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private record(request: http.IncomingMessage): DockerCall {
    const call: DockerCall = { method: request.method ?? 'GET', path: (request.url ?? '/').split('?')[0], startedAt: performance.now() };
    this.calls.push(call);
    return call;
  }

  private forward(request: http.IncomingMessage, response: http.ServerResponse): void {
    const call = this.record(request);
    response.on('finish', () => (call.durationMs = performance.now() - call.startedAt));
    const upstreamRequest = http.request(
      { socketPath: this.upstream, method: request.method, path: request.url, headers: request.headers },
      (upstreamResponse) => {
        response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
        upstreamResponse.pipe(response);
      },
    );
    upstreamRequest.on('error', (error) => {
      if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain' });
      response.end(`bench docker proxy: ${error.message}\n`);
    });
    request.pipe(upstreamRequest);
  }

  private tunnel(request: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    this.record(request);
    const upstreamSocket = net.connect(this.upstream, () => {
      const headerLines = Object.entries(request.headers).flatMap(([name, value]) =>
        (Array.isArray(value) ? value : [value ?? '']).map((item) => `${name}: ${item}`),
      );
      upstreamSocket.write(`${request.method} ${request.url} HTTP/1.1\r\n${headerLines.join('\r\n')}\r\n\r\n`);
      upstreamSocket.write(head);
      upstreamSocket.pipe(socket);
      socket.pipe(upstreamSocket);
    });
    const close = () => {
      socket.destroy();
      upstreamSocket.destroy();
    };
    upstreamSocket.on('error', close);
    socket.on('error', close);
  }
}

export function countWrites(calls: readonly DockerCall[]): number {
  return calls.filter((call) => call.method !== 'GET' && call.method !== 'HEAD').length;
}
