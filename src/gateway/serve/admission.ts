// Admission: how many images the server holds at once. A request is admitted once its whole body
// has arrived (a slow sender holds a connection, never a slot), per image, up to maxQueue images
// over all requests; past it, or once shutdown has begun, it gets a 503. The counts here also tell
// the micro-batcher whether company is on its way (`upstream`): bodies still arriving and admitted
// images not yet handed to it. Everything one request took is given back in one place, when its
// response closes, whatever path it took to get there.
import { HttpError } from './errors.js';

/** The state Admission and its tickets share. */
interface Counts {
  readonly maxQueue: number;
  admitted: number;
  upstream: number;
  open: number;
  draining: boolean;
}

export class Admission {
  private readonly counts: Counts;
  private idleWaiters: (() => void)[] = [];

  constructor(
    /** Most images admitted at once over all requests: an integer ≥ 1. */
    readonly maxQueue: number,
    /**
     * Called when `upstream` falls without an image reaching the batcher (a body finished
     * arriving, a request ended with images it never handed on), so a batcher waiting for that
     * company can run now.
     */
    private readonly onUpstreamDrop: () => void = () => {},
  ) {
    if (!Number.isInteger(maxQueue) || maxQueue < 1) throw new RangeError(`maxQueue must be an integer ≥ 1; got ${maxQueue}`);
    this.counts = { maxQueue, admitted: 0, upstream: 0, open: 0, draining: false };
  }

  /** Images admitted and not yet answered. */
  get admitted(): number {
    return this.counts.admitted;
  }

  /** Bodies still arriving plus admitted images not yet handed to the batcher. */
  get upstream(): number {
    return this.counts.upstream;
  }

  /** Requests opened and not yet released. */
  get open(): number {
    return this.counts.open;
  }

  /** Shutdown has begun: new requests are refused admission. */
  get draining(): boolean {
    return this.counts.draining;
  }

  /** One request begins; release its ticket when its response closes. */
  openRequest(): AdmissionTicket {
    this.counts.open++;
    return new AdmissionTicket(this.counts, this.onUpstreamDrop, () => {
      this.counts.open--;
      if (this.counts.open === 0) for (const w of this.idleWaiters.splice(0)) w();
    });
  }

  /** Shutdown begins: from now on only requests whose body began arriving before are admitted. */
  drain(): void {
    this.counts.draining = true;
  }

  /** Resolves once no request is open. */
  idle(): Promise<void> {
    if (this.counts.open === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

/** What one request holds. Every method is a no-op once released. */
export class AdmissionTicket {
  /** Images admitted for this request. */
  private images = 0;
  /** Of those, images handed to the batcher. */
  private handed = 0;
  private receiving = false;
  /** The body began arriving before shutdown began: the request is still served. */
  private beforeDrain = false;
  private released = false;

  /** @internal Tickets come from Admission.openRequest(). */
  constructor(
    private readonly counts: Counts,
    private readonly onUpstreamDrop: () => void,
    private readonly onRelease: () => void,
  ) {}

  /** The body starts (true) or stops (false) arriving: company on its way for the batcher, not admitted. */
  arriving(on: boolean): void {
    if (this.released || on === this.receiving) return;
    this.receiving = on;
    if (on) {
      this.beforeDrain = !this.counts.draining;
      this.counts.upstream++;
    } else {
      this.counts.upstream--;
      this.onUpstreamDrop();
    }
  }

  /**
   * Admits `n` more images for this request, or throws a 503 HttpError: `queue_full` when they
   * would take the server past maxQueue, `shutting_down` when shutdown began before this request
   * was admitted anything or began arriving (a request already in may still grow: a batch, once parsed).
   */
  admit(n: number): void {
    if (this.released) throw new HttpError(503, 'shutting_down', 'the request has ended');
    if (this.counts.draining && this.images === 0 && !this.beforeDrain) {
      throw new HttpError(503, 'shutting_down', 'the server is shutting down', { 'retry-after': '1' });
    }
    const max = this.counts.maxQueue;
    if (this.counts.admitted + n > max) {
      throw new HttpError(503, 'queue_full', `the server is at capacity (${max} images admitted); retry later`, { 'retry-after': '1' });
    }
    this.counts.admitted += n;
    this.counts.upstream += n;
    this.images += n;
  }

  /** One admitted image reached the batcher: it no longer counts as on its way. */
  handedOn(): void {
    if (this.released || this.handed >= this.images) return;
    this.handed++;
    this.counts.upstream--;
  }

  /** Gives back everything this request took (its response closed). Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.counts.admitted -= this.images;
    let drop = 0;
    if (this.receiving) {
      this.receiving = false;
      drop++;
    }
    drop += this.images - this.handed; // never reached the batcher (bad image, 413, …)
    if (drop > 0) {
      this.counts.upstream -= drop;
      this.onUpstreamDrop();
    }
    this.onRelease();
  }
}

