// Docker's log stream of a container without a TTY is multiplexed: each frame is an 8-byte
// header (byte 0: 1 stdout, 2 stderr; bytes 4-7: payload length, big-endian) and the payload.
// With a TTY it is the raw bytes. Pure, so it is table-tested; used for the output kept of a
// failed replica and by `capstan logs`.

export type LogStream = 'stdout' | 'stderr';

export interface LogChunk {
  stream: LogStream;
  data: Buffer;
}

const HEADER_BYTES = 8;

/** Splits a multiplexed stream into frames as chunks arrive; a frame may span chunks. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): LogChunk[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: LogChunk[] = [];
    while (this.pending.length >= HEADER_BYTES) {
      const length = this.pending.readUInt32BE(4);
      if (this.pending.length < HEADER_BYTES + length) break;
      frames.push({ stream: this.pending[0] === 2 ? 'stderr' : 'stdout', data: this.pending.subarray(HEADER_BYTES, HEADER_BYTES + length) });
      this.pending = this.pending.subarray(HEADER_BYTES + length);
    }
    return frames;
  }
}

/** The whole of a finished (not followed) log answer, as one text with both streams interleaved. */
export function demuxLogs(buffer: Buffer, tty: boolean): string {
  if (tty) return buffer.toString('utf8');
  return Buffer.concat(new FrameReader().push(buffer).map((frame) => frame.data)).toString('utf8');
}

/** Cuts a stream of text into whole lines; the unfinished tail waits for the next chunk. */
export class LineSplitter {
  private partial = '';

  push(text: string): string[] {
    const pieces = (this.partial + text).split('\n');
    this.partial = pieces.pop() ?? '';
    return pieces.map((line) => line.replace(/\r$/, ''));
  }

  /** What is left when the stream ends. */
  end(): string[] {
    const rest = this.partial;
    this.partial = '';
    return rest === '' ? [] : [rest];
  }
}
