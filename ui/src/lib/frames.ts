/**
 * Text deltas applied once per animation frame: a stream can deliver hundreds of events a
 * second, and re-rendering the answer for each would fall behind it.
 */

type Schedule = (run: () => void) => () => void;

const nextFrame: Schedule = (run) => {
  if (typeof requestAnimationFrame === "function") {
    const id = requestAnimationFrame(run);
    return () => cancelAnimationFrame(id);
  }
  const id = setTimeout(run, 16);
  return () => clearTimeout(id);
};

export class FrameBatcher {
  private pending = "";
  private cancel: (() => void) | null = null;

  constructor(
    private readonly apply: (text: string) => void,
    private readonly schedule: Schedule = nextFrame,
  ) {}

  /** Queue a delta; it is applied with the others of this frame. */
  push(text: string): void {
    if (!text) return;
    this.pending += text;
    this.cancel ??= this.schedule(() => {
      this.cancel = null;
      this.flush();
    });
  }

  /** Apply what is queued now (at the end of a stream, before anything reads the text). */
  flush(): void {
    this.cancel?.();
    this.cancel = null;
    if (!this.pending) return;
    const text = this.pending;
    this.pending = "";
    this.apply(text);
  }
}
