// The numbers a ReST-EM run reports: the unbiased pass@k estimator of Chen et al. (2021),
// its mean over problems, the E-step's train pass rate and kept fraction, and the per-iteration
// metrics record written to iter-<i>/metrics.json (docs/run-store.md). All pure functions.

/**
 * Unbiased pass@k from n samples of which c are correct: 1 - C(n-c, k) / C(n, k), computed as
 * the product prod_{i=n-c+1}^{n} (1 - k / i) so that no binomial coefficient overflows.
 * Exactly 0 when c = 0 and exactly 1 when n - c < k (every k-subset holds a correct sample).
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(c) || !Number.isInteger(k) || n < 0 || c < 0 || c > n || k < 1) {
    throw new Error(`pass@k needs integers 0 <= c <= n and k >= 1, got n=${n} c=${c} k=${k}`);
  }
  if (k > n) throw new Error(`pass@${k} needs at least ${k} samples, got ${n}`);
  if (c === 0) return 0;
  if (n - c < k) return 1;
  let allWrong = 1; // C(n-c, k) / C(n, k)
  for (let i = n - c + 1; i <= n; i++) allWrong *= 1 - k / i;
  return 1 - allWrong;
}

/** Per-problem sample counts: n samples drawn, c of them correct. */
export interface ProblemCounts {
  problemId: string;
  n: number;
  c: number;
}

/** Mean pass@k over problems (0 for no problems); problems with n < k are an error. */
export function meanPassAtK(counts: readonly ProblemCounts[], k: number): number {
  if (counts.length === 0) return 0;
  return counts.reduce((sum, p) => sum + passAtK(p.n, p.c, k), 0) / counts.length;
}

/** Counts per problem from judged records, in first-seen order. */
export function countByProblem(records: readonly { problem_id: string; reward: number }[]): ProblemCounts[] {
  const byId = new Map<string, ProblemCounts>();
  for (const record of records) {
    let counts = byId.get(record.problem_id);
    if (!counts) byId.set(record.problem_id, (counts = { problemId: record.problem_id, n: 0, c: 0 }));
    counts.n += 1;
    if (record.reward > 0) counts.c += 1;
  }
  return [...byId.values()];
}

/** Fraction of problems with at least one correct sample (the E-step's train pass rate). */
export function solvedFraction(counts: readonly ProblemCounts[]): number {
  if (counts.length === 0) return 0;
  return counts.filter((p) => p.c > 0).length / counts.length;
}

/** kept / total, 0 when nothing was sampled. */
export function keptFraction(kept: number, total: number): number {
  return total > 0 ? kept / total : 0;
}

/** What the E-step and filter of one iteration produced. */
export interface EStepMetrics {
  /** Training problems sampled. */
  problems: number;
  /** Samples drawn (problems x samplesPerProblem; for SFT: human solutions considered). */
  samples: number;
  /** Samples with reward 1. */
  correct: number;
  /** Fraction of training problems with >= 1 correct sample (the E-step's pass@N). */
  train_pass_rate: number;
  /** Mean over training problems of the fraction of correct samples (pass@1 at the E-step temperature). */
  train_sample_pass_rate: number;
  /** Programs kept for the M-step after dedupe and the per-problem cap. */
  kept: number;
  /** kept / samples. */
  kept_fraction: number;
  /** Samples whose generation or judging failed (recorded with reward 0). */
  errors: number;
}

/** What evaluating one model on the test split (and greedily on train) measured. */
export interface EvalMetrics {
  test_problems: number;
  /** Greedy pass@1 on the test split (the paper's headline number). */
  pass_at_1: number;
  /** Unbiased pass@k from `samples` samples per test problem at temperature 1.0, top-p 0.95. */
  pass_at_k: Record<string, number>;
  /** n of pass@k (0 when only greedy decoding ran). */
  samples: number;
  /** Greedy pass@1 on the training problems, or null when evaluation.trainGreedy is off. */
  train_pass_at_1: number | null;
  /** train_pass_at_1 - pass_at_1 (same model, same decoding), or null. */
  train_test_gap: number | null;
}

export interface MStepMetrics {
  /** Where fine-tuning started: "base" or "iter-<i>". */
  start: string;
  examples: number;
  steps: number;
  /** Best greedy pass rate on D_val, or null without validation problems. */
  best_validation_reward: number | null;
  validations: number;
  final_loss: number | null;
  seconds: number;
}

/** iter-<i>/metrics.json. Iteration 0 (the base model) has estep and mstep null. */
export interface IterationMetrics {
  iteration: number;
  /** The model evaluated: "base" or "iter-<i>/weights". */
  model: string;
  estep: EStepMetrics | null;
  mstep: MStepMetrics | null;
  eval: EvalMetrics;
}

/** The evaluation metrics from greedy and sampled test counts (and greedy train counts, if any). */
export function evalMetrics(
  greedyTest: readonly ProblemCounts[],
  sampledTest: readonly ProblemCounts[],
  passK: readonly number[],
  greedyTrain: readonly ProblemCounts[] | null,
): EvalMetrics {
  const pass1 = meanPassAtK(greedyTest, 1);
  const n = sampledTest.length > 0 ? Math.min(...sampledTest.map((p) => p.n)) : 0;
  const passAtKs: Record<string, number> = {};
  for (const k of passK) if (n >= k) passAtKs[String(k)] = meanPassAtK(sampledTest, k);
  const train = greedyTrain === null ? null : meanPassAtK(greedyTrain, 1);
  return {
    test_problems: greedyTest.length,
    pass_at_1: pass1,
    pass_at_k: passAtKs,
    samples: n,
    train_pass_at_1: train,
    train_test_gap: train === null ? null : train - pass1,
  };
}

/** The E-step metrics from the judged training samples and the number kept. */
export function estepMetrics(records: readonly { problem_id: string; reward: number; failed: boolean }[], kept: number): EStepMetrics {
  const counts = countByProblem(records);
  const samplePassRate = counts.length === 0 ? 0 : counts.reduce((sum, p) => sum + p.c / p.n, 0) / counts.length;
  return {
    problems: counts.length,
    samples: records.length,
    correct: records.filter((r) => r.reward > 0).length,
    train_pass_rate: solvedFraction(counts),
    train_sample_pass_rate: samplePassRate,
    kept,
    kept_fraction: keptFraction(kept, records.length),
    errors: records.filter((r) => r.failed).length,
  };
}

/** One row of `restem runs --json` (and of the table at the end of a run). */
export interface IterationSummary {
  iteration: number;
  pass_at_1: number;
  pass_at_k: Record<string, number>;
  train_pass_rate: number | null;
  train_pass_at_1: number | null;
  train_test_gap: number | null;
  kept_fraction: number | null;
  kept: number | null;
}

export function summarizeIteration(metrics: IterationMetrics): IterationSummary {
  return {
    iteration: metrics.iteration,
    pass_at_1: metrics.eval.pass_at_1,
    pass_at_k: metrics.eval.pass_at_k,
    train_pass_rate: metrics.estep?.train_pass_rate ?? null,
    train_pass_at_1: metrics.eval.train_pass_at_1,
    train_test_gap: metrics.eval.train_test_gap,
    kept_fraction: metrics.estep?.kept_fraction ?? null,
    kept: metrics.estep?.kept ?? null,
  };
}

/** A fixed-width table of iteration summaries for the terminal. */
export function formatSummaryTable(rows: readonly IterationSummary[]): string {
  const ks = [...new Set(rows.flatMap((r) => Object.keys(r.pass_at_k)))].sort((a, b) => Number(a) - Number(b));
  const percent = (value: number | null): string => (value === null ? "-" : `${(value * 100).toFixed(1)}%`);
  const header = ["iter", "pass@1 (greedy)", ...ks.map((k) => `pass@${k}`), "train pass", "train greedy", "gap", "kept", "kept %"];
  const lines = rows.map((r) => [
    String(r.iteration),
    percent(r.pass_at_1),
    ...ks.map((k) => percent(r.pass_at_k[k] ?? null)),
    percent(r.train_pass_rate),
    percent(r.train_pass_at_1),
    percent(r.train_test_gap),
    r.kept === null ? "-" : String(r.kept),
    percent(r.kept_fraction),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const format = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i])).join("  ");
  return [format(header), ...lines.map(format)].join("\n") + "\n";
}
