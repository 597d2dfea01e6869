// A real run store for the UI tests, made once per test process: a two-iteration ReST-EM run
// of the demo model on a slice of the demo problems (every 15th training problem, every 10th
// validation and test problem), executed through the extension's RunSession — the same path
// as Start Run — with the real Docker judge, ONNX Runtime sampler and tfjs trainer.
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseConfig, type RunEvent, type RunOutcome } from "../../src/restem";
import { RunSession } from "../../src/ui/runSession";
import { PRESETS } from "../../src/ui/runSettings";
import { copyDemoSlice } from "./demoProblems";

const REPO_ROOT = path.resolve(__dirname, "../../..");

export interface UiRunStore {
  dir: string;
  store: string;
  problems: string;
  runId: string;
  outcome: RunOutcome | null;
  events: RunEvent[];
}

let made: Promise<UiRunStore> | null = null;

/** The shared store (made on first use; about a minute on two cores). */
export function uiRunStore(): Promise<UiRunStore> {
  made ??= (async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "restem-ui-store-"));
    const problems = path.join(dir, "problems");
    copyDemoSlice(problems, { train: 15, valid: 10, test: 10 });
    const tiny = PRESETS.find((p) => p.id === "tiny");
    if (!tiny) throw new Error("the tiny preset is missing");
    const config = parseConfig({ ...tiny.config, iterations: 2, problems, model: path.join(REPO_ROOT, "demo/model"), evaluation: { passK: [1, 2], samples: 2, trainGreedy: true } }, "(ui test)");
    const session = new RunSession();
    const events: RunEvent[] = [];
    session.onEvent((_id, event) => events.push(event));
    const store = path.join(dir, ".restem");
    const active = await session.start(store, config, "(ui test)");
    const outcome = await active.done;
    return { dir, store, problems, runId: active.runId, outcome, events };
  })();
  return made;
}
