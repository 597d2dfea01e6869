// Inline diffs of accepted samples: a read-only virtual document provider (scheme
// "restem-sample") that serves programs out of the run store and problem folders, and the
// commands that open them with vscode.diff — an accepted sample against the problem's reference
// solution (or starter code), and against the same problem's accepted sample from the previous
// iteration. From the palette the sample is picked run -> iteration -> accepted sample.

import * as vscode from "vscode";
import { acceptedSamples, decodeProgramRef, diffSpecsFor, encodeProgramRef, readProgram, SAMPLE_SCHEME, type DiffSpec, type ProgramRef } from "./sampleDiffModel";
import type { SampleNode } from "./runTreeModel";
import { pickRun } from "./pickers";

type SampleRef = Extract<ProgramRef, { kind: "sample" }>;

class SampleDocumentProvider implements vscode.TextDocumentContentProvider {
  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    try {
      return await readProgram(decodeProgramRef(uri.query));
    } catch (error) {
      return `# cannot show this program: ${(error as Error).message}\n`;
    }
  }
}

export function programUri(ref: ProgramRef): vscode.Uri {
  const { path, query } = encodeProgramRef(ref);
  return vscode.Uri.from({ scheme: SAMPLE_SCHEME, path, query });
}

function sampleRefOf(node: SampleNode): SampleRef {
  return { kind: "sample", store: node.store, runId: node.runId, iteration: node.iteration, problemId: node.problemId, index: node.index, source: node.source };
}

async function openDiff(spec: DiffSpec): Promise<void> {
  await vscode.commands.executeCommand("vscode.diff", programUri(spec.left), programUri(spec.right), spec.title, { preview: true });
}

/** Run -> iteration -> accepted sample, from the palette. */
async function pickAcceptedSample(store: string): Promise<SampleRef | undefined> {
  const run = await pickRun(store, { title: "Show Accepted Sample Diff: which run?", filter: (r) => r.iterations >= 1 });
  if (!run) return undefined;
  const iterations = Array.from({ length: run.iterations }, (_, i) => i + 1);
  const iteration = await vscode.window.showQuickPick(
    iterations.map((i) => ({ label: `iteration ${i}`, iteration: i })),
    { title: "Show Accepted Sample Diff: which iteration?" },
  );
  if (!iteration) return undefined;
  const samples = await acceptedSamples(store, run.runId, iteration.iteration);
  if (samples.length === 0) {
    void vscode.window.showInformationMessage(`ReST-EM: iteration ${iteration.iteration} of run ${run.runId} has no accepted samples yet.`);
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    samples.map((s) => ({ label: s.problemId, description: `sample ${s.index}`, sample: s })),
    { title: "Show Accepted Sample Diff: which sample?", matchOnDescription: true },
  );
  return picked?.sample;
}

export function registerSampleDiff(store: () => string | null): vscode.Disposable[] {
  const requireStore = (): string | null => {
    const value = store();
    if (value === null) void vscode.window.showWarningMessage("ReST-EM: open a folder first; runs are stored in it.");
    return value;
  };
  return [
    vscode.workspace.registerTextDocumentContentProvider(SAMPLE_SCHEME, new SampleDocumentProvider()),
    vscode.commands.registerCommand("restem.showSampleDiff", async (node?: SampleNode) => {
      const root = node?.store ?? requireStore();
      if (root === null) return;
      const sample = node ? sampleRefOf(node) : await pickAcceptedSample(root);
      if (!sample) return;
      const { reference, previous } = diffSpecsFor(sample);
      if (node || previous === null) return openDiff(reference);
      const choice = await vscode.window.showQuickPick(
        [
          { label: "Against the reference solution", description: "solutions.json, or starter_code.py", spec: reference },
          { label: `Against iteration ${sample.iteration - 1}'s accepted sample`, spec: previous },
        ],
        { title: "Compare the accepted sample with" },
      );
      if (choice) await openDiff(choice.spec);
    }),
    vscode.commands.registerCommand("restem.showSampleDiffPrevious", async (node?: SampleNode): Promise<void> => {
      if (!node) {
        await vscode.commands.executeCommand("restem.showSampleDiff");
        return;
      }
      const { previous } = diffSpecsFor(sampleRefOf(node));
      if (previous === null) {
        void vscode.window.showInformationMessage("ReST-EM: iteration 1 samples come from the base model; there is no earlier accepted sample to compare with.");
        return;
      }
      await openDiff(previous);
    }),
    vscode.commands.registerCommand("restem.openSample", async (node?: SampleNode) => {
      if (!node) return;
      const document = await vscode.workspace.openTextDocument(programUri(sampleRefOf(node)));
      await vscode.window.showTextDocument(document, { preview: true });
    }),
  ];
}
