// Slices of the bundled demo problem set (demo/problems/{train,valid,test}) for tests that need
// a real, small problem set on disk: every `stride`-th problem folder of each split, or the first
// `count` of them, copied into a directory of the test's own.
import * as fs from "node:fs";
import * as path from "node:path";

export const DEMO_ROOT = path.resolve(__dirname, "../../..", "demo");

/** Copies every `strides[split]`-th problem folder (sorted by name) of each named split into `dest`/<split>/. */
export function copyDemoSlice(dest: string, strides: Record<string, number>): void {
  for (const [split, stride] of Object.entries(strides)) {
    const names = fs.readdirSync(path.join(DEMO_ROOT, "problems", split)).sort();
    for (const name of names.filter((_, i) => i % stride === 0)) {
      fs.cpSync(path.join(DEMO_ROOT, "problems", split, name), path.join(dest, split, name), { recursive: true });
    }
  }
}

/** Copies the first `counts[split]` problem folders (sorted by name) of each named split into `dest`/<split>/. */
export function copyDemoHead(dest: string, counts: Record<string, number>): void {
  for (const [split, count] of Object.entries(counts)) {
    const names = fs.readdirSync(path.join(DEMO_ROOT, "problems", split)).sort().slice(0, count);
    for (const name of names) fs.cpSync(path.join(DEMO_ROOT, "problems", split, name), path.join(dest, split, name), { recursive: true });
  }
}
