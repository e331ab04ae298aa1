/** One unit produced by {@link LineFramer}: a complete line, or the report of a line that was too long. */
export type FramedLine = { line: string } | { overflow: true; bytes: number };

export interface LineFramerOptions {
  /** Largest line (in bytes, excluding the "\n" and a trailing "\r") that is delivered; longer lines overflow. */
  maxLineBytes: number;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Splits a byte stream into UTF-8 lines. Lines are delivered without their "\n" terminator and
 * without a trailing "\r" (so CRLF input works). Memory is bounded by `maxLineBytes`: once the line
 * being assembled grows past the cap its bytes are discarded until the next newline, and the line is
 * reported once as `{ overflow: true, bytes }`, where `bytes` is the full length of that line
 * (counted like the cap: without "\n" and a trailing "\r"). Pure, no I/O.
 */
export class LineFramer {
  readonly maxLineBytes: number;
  /** Pieces of the line being assembled (only while not discarding). */
  private parts: Buffer[] = [];
  private partsLen = 0;
  /** True once the current line has gone over the cap; its bytes are then only counted. */
  private discarding = false;
  private discardLen = 0;
  /** Last byte seen in the current line, to know whether it ended in "\r" while discarding. */
  private lastByte = -1;

  constructor(opts: LineFramerOptions | number) {
    const max = typeof opts === "number" ? opts : opts.maxLineBytes;
    if (!Number.isInteger(max) || max < 0) throw new RangeError(`maxLineBytes must be a non-negative integer, got ${max}`);
    this.maxLineBytes = max;
  }

  /** Feeds a chunk; returns the lines (and overflow reports) completed by it, in order. */
  push(chunk: Buffer): FramedLine[] {
    const out: FramedLine[] = [];
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(LF, start);
      if (nl === -1) {
        this.append(chunk, start, chunk.length, true);
        break;
      }
      this.append(chunk, start, nl, false);
      out.push(this.finishLine());
      start = nl + 1;
    }
    return out;
  }

  /** Flushes a final unterminated line, if any. The framer can be reused afterwards. */
  end(): FramedLine[] {
    if (!this.discarding && this.partsLen === 0) return [];
    return [this.finishLine()];
  }

  /** Bytes currently held for the incomplete line (never more than maxLineBytes + 1). */
  get pendingBytes(): number {
    return this.partsLen;
  }

  private append(chunk: Buffer, start: number, end: number, copy: boolean): void {
    const len = end - start;
    if (len <= 0) return;
    this.lastByte = chunk[end - 1] ?? -1;
    if (this.discarding) {
      this.discardLen += len;
      return;
    }
    // Allow one extra byte for a trailing "\r" that will be stripped.
    if (this.partsLen + len > this.maxLineBytes + 1) {
      this.discarding = true;
      this.discardLen = this.partsLen + len;
      this.parts = [];
      this.partsLen = 0;
      return;
    }
    // Copy a trailing partial line so that a large (possibly pooled) chunk is not kept alive.
    const piece = copy ? Buffer.from(chunk.subarray(start, end)) : chunk.subarray(start, end);
    this.parts.push(piece);
    this.partsLen += len;
  }

  private finishLine(): FramedLine {
    if (this.discarding) {
      const bytes = this.discardLen - (this.lastByte === CR ? 1 : 0);
      this.reset();
      return { overflow: true, bytes };
    }
    const only = this.parts.length === 1 ? this.parts[0] : undefined;
    let buf = only ?? Buffer.concat(this.parts, this.partsLen);
    this.reset();
    if (buf.length > 0 && buf[buf.length - 1] === CR) buf = buf.subarray(0, buf.length - 1);
    if (buf.length > this.maxLineBytes) return { overflow: true, bytes: buf.length };
    return { line: buf.toString("utf8") };
  }

  private reset(): void {
    this.parts = [];
    this.partsLen = 0;
    this.discarding = false;
    this.discardLen = 0;
    this.lastByte = -1;
  }
}
