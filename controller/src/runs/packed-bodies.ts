/**
 * Byte strings (encoded event bodies) appended one after another into pages, with a compact
 * index: a retained event costs its own bytes plus 12 bytes of index, not an object per event.
 * Pages grow with the store (1 KiB up to 64 KiB), and `seal` trims the last one, so a short run
 * holds about what it wrote.
 */
const MIN_PAGE_BYTES = 1024;
const MAX_PAGE_BYTES = 64 * 1024;
const INITIAL_SLOTS = 16;

export class PackedBodies {
  private readonly pages: Uint8Array[] = [];
  /** The page small bodies go into, and how much of it is still free. */
  private openPage = -1;
  private openSize = 0;
  private openFree = 0;
  private pageOf: Uint32Array<ArrayBuffer> = new Uint32Array(INITIAL_SLOTS);
  private offsetOf: Uint32Array<ArrayBuffer> = new Uint32Array(INITIAL_SLOTS);
  private lengthOf: Uint32Array<ArrayBuffer> = new Uint32Array(INITIAL_SLOTS);
  private count = 0;
  private allocated = 0;

  get length(): number {
    return this.count;
  }

  /** Bytes held: the pages (used or not) and the index. */
  get bytes(): number {
    return this.allocated + this.pageOf.byteLength * 3;
  }

  append(body: Uint8Array): void {
    if (this.count === this.pageOf.length) this.grow();
    if (body.length >= MAX_PAGE_BYTES) {
      // A body of a full page or more gets a page of its own; the open page stays open.
      this.place(this.addPage(body.length), 0, body);
      return;
    }
    if (body.length > this.openFree) {
      this.openSize = Math.max(body.length, Math.min(MAX_PAGE_BYTES, Math.max(MIN_PAGE_BYTES, this.allocated)));
      this.openPage = this.addPage(this.openSize);
      this.openFree = this.openSize;
    }
    const offset = this.openSize - this.openFree;
    this.openFree -= body.length;
    this.place(this.openPage, offset, body);
  }

  /** No more bodies come: the open page's free tail and the index's spare slots are given back. */
  seal(): void {
    if (this.openPage >= 0 && this.openFree > 0) {
      const used = this.openSize - this.openFree;
      this.pages[this.openPage] = this.pages[this.openPage]!.slice(0, used);
      this.allocated -= this.openFree;
      this.openFree = 0;
    }
    if (this.count < this.pageOf.length) {
      this.pageOf = this.pageOf.slice(0, this.count);
      this.offsetOf = this.offsetOf.slice(0, this.count);
      this.lengthOf = this.lengthOf.slice(0, this.count);
    }
  }

  /** The i-th body (0-based): a view into its page, valid as long as this store is. */
  get(i: number): Uint8Array {
    const offset = this.offsetOf[i]!;
    return this.pages[this.pageOf[i]!]!.subarray(offset, offset + this.lengthOf[i]!);
  }

  private place(page: number, offset: number, body: Uint8Array): void {
    this.pages[page]!.set(body, offset);
    this.pageOf[this.count] = page;
    this.offsetOf[this.count] = offset;
    this.lengthOf[this.count] = body.length;
    this.count += 1;
  }

  private addPage(size: number): number {
    this.pages.push(new Uint8Array(size));
    this.allocated += size;
    return this.pages.length - 1;
  }

  private grow(): void {
    const size = Math.max(INITIAL_SLOTS, this.pageOf.length * 2);
    const grown = (a: Uint32Array): Uint32Array<ArrayBuffer> => {
      const b = new Uint32Array(size);
      b.set(a);
      return b;
    };
    this.pageOf = grown(this.pageOf);
    this.offsetOf = grown(this.offsetOf);
    this.lengthOf = grown(this.lengthOf);
  }
}
