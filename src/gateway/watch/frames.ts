// ffmpeg's stdout is a byte stream with no frame markers: pipe chunks (64 KiB on Linux) fall
// anywhere inside a frame. The filter chain fixes every frame at width × height × channels bytes,
// so cutting the stream at multiples of that size is exact.

/**
 * Cuts a raw-video byte stream into frames of exactly `frameBytes` bytes. It holds at most one
 * partial frame between pushes (the frame being filled); each complete frame is handed to
 * `onFrame` synchronously, as a fresh Uint8Array the receiver owns.
 */
export class FrameReader {
  private partial: Uint8Array;
  private filled = 0;
  private count = 0;

  constructor(
    readonly frameBytes: number,
    private readonly onFrame: (frame: Uint8Array) => void,
  ) {
    if (!Number.isInteger(frameBytes) || frameBytes < 1 || frameBytes > 8192 * 8192 * 3) {
      throw new RangeError(`frameBytes must be an integer in [1, ${8192 * 8192 * 3}]; got ${frameBytes}`);
    }
    this.partial = new Uint8Array(frameBytes);
  }

  /** Frames emitted so far. */
  get frames(): number {
    return this.count;
  }

  /** Bytes of the frame being filled (0 at a frame boundary). */
  get pendingBytes(): number {
    return this.filled;
  }

  push(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      const take = Math.min(this.frameBytes - this.filled, chunk.length - at);
      this.partial.set(chunk.subarray(at, at + take), this.filled);
      this.filled += take;
      at += take;
      if (this.filled === this.frameBytes) {
        const frame = this.partial;
        // A new buffer for the next frame: the receiver keeps the emitted one as long as it likes.
        this.partial = new Uint8Array(this.frameBytes);
        this.filled = 0;
        this.count++;
        this.onFrame(frame);
      }
    }
  }

  /** Drops a partial frame (ffmpeg restarted: its first bytes start a new frame). */
  reset(): void {
    this.filled = 0;
  }
}
