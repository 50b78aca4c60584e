/**
 * Reads the SSH wire encoding of RFC 4251 §5 (`uint32`, `string`, `mpint`), the only encoding
 * SSH keys and SSHSIG envelopes use. Every read is bounds-checked: a truncated or oversized
 * field throws instead of reading past the buffer.
 */
export class SshWireReader {
  private offset = 0;

  constructor(private readonly buffer: Buffer) {}

  uint32(): number {
    if (this.offset + 4 > this.buffer.length) throw new SshWireError('truncated uint32');
    const value = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  bytes(length: number): Buffer {
    if (length > this.buffer.length - this.offset) throw new SshWireError(`field of ${length} bytes runs past the end`);
    const value = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  string(): Buffer {
    return this.bytes(this.uint32());
  }

  text(): string {
    return this.string().toString('utf8');
  }

  /** An unsigned mpint as its magnitude, without the sign-padding zero byte. */
  unsignedMpint(): Buffer {
    const raw = this.string();
    if (raw.length > 0 && (raw[0] & 0x80) !== 0) throw new SshWireError('negative mpint');
    let start = 0;
    while (start < raw.length && raw[start] === 0) start++;
    return raw.subarray(start);
  }

  get done(): boolean {
    return this.offset === this.buffer.length;
  }

  /** Fields the format does not define are refused, so two encodings never verify as one. */
  end(what: string): void {
    if (!this.done) throw new SshWireError(`${this.buffer.length - this.offset} trailing bytes after the ${what}`);
  }
}

export class SshWireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SshWireError';
  }
}
