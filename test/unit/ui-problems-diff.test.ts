// The Problems view's model on real problem folders (the shipped examples, and a workspace with
// a broken problem), and the diff documents' URI encoding.
import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { discoverProblemSets, loadProblemSetNode, presentProblemNode, problemChildren } from "../../src/ui/problemsModel";
import { decodeProgramRef, encodeProgramRef, type ProgramRef } from "../../src/ui/sampleDiffModel";

const REPO_ROOT = path.resolve(__dirname, "../../..");

describe("UI: the Problems view model", () => {
  let workspace: string;

  before(async () => {
    workspace = await mkdtemp(path.join(os.tmpdir(), "restem-problems-view-"));
    await cp(path.join(REPO_ROOT, "examples/problems"), path.join(workspace, "sets/examples"), { recursive: true });
    const broken = path.join(workspace, "sets/examples/train", "zz-broken");
    await mkdir(broken, { recursive: true });
    await writeFile(path.join(broken, "question.txt"), "Print 1.\n");
    await writeFile(path.join(broken, "input_output.json"), '{"inputs": ["1"]}');
    await mkdir(path.join(workspace, "node_modules/pkg/p1"), { recursive: true });
    await writeFile(path.join(workspace, "node_modules/pkg/p1/question.txt"), "not a problem set\n");
  });
  after(async () => {
    await rm(workspace, { recursive: true, force: true });
  });

  it("finds the set (not node_modules) and lists the broken problem with what is wrong", async () => {
    const roots = await discoverProblemSets(workspace);
    assert.deepEqual(roots, [path.join(workspace, "sets/examples")]);
    const set = await loadProblemSetNode(roots[0], workspace);
    assert.equal(set.label, path.join("sets", "examples"));
    assert.ok(set.problems.length > 0);
    assert.equal(set.errors.length, 1);
    const look = presentProblemNode(set);
    assert.equal(look.description, `${set.problems.length} problem${set.problems.length === 1 ? "" : "s"} · 1 error`);
    const children = problemChildren(set);
    assert.equal(children[0].kind, "errors");
    const [error] = problemChildren(children[0]);
    const errorLook = presentProblemNode(error);
    assert.equal(errorLook.icon, "error");
    assert.equal(errorLook.label, "zz-broken/input_output.json");
    assert.match(errorLook.tooltip, /zz-broken.*outputs/);
  });

  it("a problem opens its question.txt and describes its tests", async () => {
    const set = await loadProblemSetNode(path.join(workspace, "sets/examples"), workspace);
    const problems = problemChildren(set).flatMap((c) => (c.kind === "split" ? problemChildren(c) : [c])).filter((c) => c.kind === "problem");
    assert.equal(problems.length, set.problems.length);
    const look = presentProblemNode(problems[0]);
    assert.ok(look.file?.endsWith("question.txt"));
    assert.match(look.description, /^\d+ tests?/);
  });

  it("a path that is not a problem set becomes a node that says so", async () => {
    const node = await loadProblemSetNode(path.join(workspace, "missing"), workspace);
    assert.ok(node.failure);
    assert.equal(presentProblemNode(node).description, "cannot be loaded");
  });
});

describe("UI: diff document URIs", () => {
  const refs: ProgramRef[] = [
    { kind: "sample", store: "/w/.restem", runId: "20240501-142233-017-3fa2", iteration: 2, problemId: "train/0007", index: 13, source: "estep" },
    { kind: "sample", store: "/w/.restem", runId: "20240501-142233-017-3fa2", iteration: 0, problemId: "test/1", index: 0, source: "greedy" },
    { kind: "reference", store: "/a b/&store", runId: "r", problemId: "x?y#z" },
    { kind: "previous", store: "/w/.restem", runId: "r", iteration: 3, problemId: "p" },
  ];

  it("round-trips every kind, with a .py path for highlighting", () => {
    for (const ref of refs) {
      const { path: uriPath, query } = encodeProgramRef(ref);
      assert.ok(uriPath.endsWith(".py"), uriPath);
      assert.deepEqual(decodeProgramRef(query), ref);
    }
  });

  it("rejects malformed queries with what is wrong", () => {
    assert.throws(() => decodeProgramRef("kind=sample&store=s&run=r&problem=p&iteration=1&source=estep"), /"index" is missing/);
    assert.throws(() => decodeProgramRef("kind=previous&store=s&run=r&problem=p&iteration=-1"), /"iteration" must be a non-negative integer/);
    assert.throws(() => decodeProgramRef("kind=other&store=s&run=r&problem=p"), /unknown kind "other"/);
  });
});
