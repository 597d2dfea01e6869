// The public API of src/restem, the ReST-EM engine: configuration, the run store, the loop and
// its events, evaluation and metrics. The CLI (src/cli/runCommands.ts) and, later, the VS Code
// extension use only what is exported here; nothing in src/restem imports vscode.
//
//   const config = parseConfig({ problems: "examples/problems", model: "demo/model" }, "restem.json");
//   const id = await createRun(".restem", config);
//   const controller = new AbortController();
//   const outcome = await executeRun(".restem", id, { signal: controller.signal, onEvent: (e) => console.log(e.type) });
//   // later, after a crash or a cancel: await executeRun(".restem", id)   (resume)
//   const runs = await listRuns(".restem");

export { assertRunnable, ConfigError, DEFAULT_CONFIG, loadConfigFile, parseConfig } from "./config";
export type { EvaluationConfig, FewShotExample, FilterConfig, JudgeConfig, MStepConfig, PromptConfig, RestemConfig, Restart, SamplingConfig, SamplingDevice, SplitConfig, Variant } from "./config";
export { appsPromptBuilder, assignSplits, buildPrompt, carve, chatPromptBuilder, fitPrompt, openPromptBuilder, questionBlock, resolveSplit, runProblemId } from "./dataset";
export type { PromptBuilder, TrainingText } from "./dataset";
export { chatAnswer, chatInstruction, chatMessages, chatUserMessage, renderChatPrompt } from "./chatPrompt";
export type { SplitIds } from "./dataset";
export { EventLog, isWorkDone, nextWork, storeStateFrom, workKey, workPlan } from "./events";
export type { DurableEvent, Phase, ProgressEvent, RunEvent, RunListener, StoreState, WorkItem } from "./events";
export { evaluateModel, runEvaluation } from "./evaluate";
export type { EvaluateModelOptions, EvaluationInput } from "./evaluate";
export { executeRun } from "./loop";
export type { ExecuteOptions, RunOutcome } from "./loop";
export {
  countByProblem,
  estepMetrics,
  evalMetrics,
  formatSummaryTable,
  keptFraction,
  meanPassAtK,
  passAtK,
  solvedFraction,
  summarizeIteration,
} from "./metrics";
export type { EStepMetrics, EvalMetrics, IterationMetrics, IterationSummary, MStepMetrics, ProblemCounts } from "./metrics";
export { buildExamples, CancelledError, EarlyStopping, runMStep, saveWeightsDir, startCheckpoint } from "./mstep";
export type { ExampleEncoder, MStepInput, MStepOutput } from "./mstep";
export { Policy, resolveDevice } from "./policy";
export type { DecodeOptions, SampleBatch, SampleRequest } from "./policy";
export {
  absoluteConfig,
  createRun,
  createRunLocked,
  doneSummary,
  iterationMetricsFromEvents,
  listRuns,
  loadStoreState,
  processAlive,
  readIterationMetrics,
  readRunConfig,
  readSplits,
  readStatus,
  rebuildIterationMetrics,
  resolveRunId,
  runnerAlive,
  runnerPidAlive,
  shownRunState,
  updateStatus,
} from "./runs";
export type { RunSummary, ShownRunState, StoredEvent } from "./runs";
export { assertRunInputs, modelPathProblem, problemsPathProblem } from "./runInputs";
export { acquireRunLock, holderAlive, LOCK_FILE, processStartTime, readRunLock, releaseThreadLocks, RunLock, RunLockedError, runLockAlive } from "./runLock";
export type { LockHolder } from "./runLock";
export { batchRuns, currentRecords, doneIndices, extractProgram, filterSamples, hashString, humanSolutions, isSandboxFailure, judgedRecords, missingRuns, normaliseProgram, sampleSeed } from "./samples";
export type { FilterOptions, KeptRecord, SampleRecord, SamplingPhase } from "./samples";
export { drawAndJudge, failedRecord, greedyPassRate, sampleRecord } from "./sampling";
export type { DrawOptions, Rewarder } from "./sampling";
export {
  hasModelFiles,
  JsonlAppender,
  listRunIds,
  newRunId,
  parseJsonl,
  readJson,
  readJsonl,
  repairJsonl,
  RUN_ID_PATTERN,
  runPaths,
  runsRoot,
  writeAtomic,
  writeJsonAtomic,
} from "./store";
export type { IterationPaths, RunPaths, RunState, RunStatus } from "./store";
