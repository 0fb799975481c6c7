import { describe, expect, it } from "vitest";
import { FrameBatcher } from "../src/lib/frames";

function manualFrames(): { schedule: (run: () => void) => () => void; tick: () => void; pending: () => number } {
  let queue: (() => void)[] = [];
  return {
    schedule: (run) => {
      queue.push(run);
      return () => {
        queue = queue.filter((r) => r !== run);
      };
    },
    tick: () => {
      const runs = queue;
      queue = [];
      for (const r of runs) r();
    },
    pending: () => queue.length,
  };
}

describe("FrameBatcher", () => {
  it("applies every delta of a frame at once, in order", () => {
    const frames = manualFrames();
    const applied: string[] = [];
    const b = new FrameBatcher((t) => applied.push(t), frames.schedule);
    b.push("中");
    b.push("文");
    b.push("!");
    expect(applied).toEqual([]);
    expect(frames.pending()).toBe(1); // one frame scheduled, not one per delta
    frames.tick();
    expect(applied).toEqual(["中文!"]);
    b.push("next");
    frames.tick();
    expect(applied).toEqual(["中文!", "next"]);
  });

  it("flush applies what is queued now and cancels the frame", () => {
    const frames = manualFrames();
    const applied: string[] = [];
    const b = new FrameBatcher((t) => applied.push(t), frames.schedule);
    b.push("tail");
    b.flush();
    expect(applied).toEqual(["tail"]);
    expect(frames.pending()).toBe(0);
    b.flush();
    expect(applied).toEqual(["tail"]); // nothing applied twice
  });

  it("ignores empty deltas", () => {
    const frames = manualFrames();
    const b = new FrameBatcher(() => {
      throw new Error("applied");
    }, frames.schedule);
    b.push("");
    expect(frames.pending()).toBe(0);
  });
});
