/**
 * A budget of bytes held at once: `acquire(n)` resolves to the release function once `n` more bytes
 * fit, in the order asked (a large request is not overtaken by small ones that came after it). A
 * request larger than the whole budget is let in alone, when nothing else is held, so it cannot
 * wait forever.
 */
export class ByteBudget {
  private held = 0;
  private readonly waiters: { bytes: number; admit: (release: () => void) => void }[] = [];
  private readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Bytes held now. */
  get heldBytes(): number {
    return this.held;
  }

  acquire(bytes: number): Promise<() => void> {
    if (this.waiters.length === 0 && this.fits(bytes)) return Promise.resolve(this.take(bytes));
    return new Promise((admit) => this.waiters.push({ bytes, admit }));
  }

  private fits(bytes: number): boolean {
    return this.held === 0 || this.held + bytes <= this.capacity;
  }

  private take(bytes: number): () => void {
    this.held += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held -= bytes;
      while (this.waiters.length > 0 && this.fits(this.waiters[0]!.bytes)) {
        const next = this.waiters.shift()!;
        next.admit(this.take(next.bytes));
      }
    };
  }
}
