// How the extension turns the user's choices into a run's restem.json: the presets offered by
// Start Run, the `restem.*` settings that map onto config fields, and the order they layer in:
//
//   DEFAULT_CONFIG  <  preset  <  restem.* settings the user set  <  the chosen restem.json  <  problems/model picked
//
// (a config file the user picks for this run wins over their general settings). Pure of vscode:
// the settings arrive as a lookup function, so unit tests check the mapping against
// package.json's contributes.configuration.

import * as path from "node:path";
import { parseConfig, type RestemConfig } from "../restem";

/** A restem.json-shaped object: nested fields, any subset. */
export type RawConfig = Record<string, unknown>;

export interface Preset {
  id: string;
  label: string;
  detail: string;
  config: RawConfig;
}

/** The presets of Start Run, smallest first. */
export const PRESETS: readonly Preset[] = [
  {
    id: "tiny",
    label: "Tiny (smoke test)",
    detail: "1 iteration, 4 samples per problem, 1 epoch, greedy evaluation only: minutes on a laptop CPU",
    config: {
      iterations: 1,
      sampling: { samplesPerProblem: 4, maxNewTokens: 160 },
      mstep: { epochs: 1, batchSize: 4, lr: 0.001 },
      evaluation: { passK: [1], samples: 0, trainGreedy: false },
    },
  },
  {
    id: "small",
    label: "Small (the demo's preset)",
    detail: "1 iteration, 32 samples per problem, 2 epochs, pass@1/5/10 from 10 samples",
    config: {
      iterations: 1,
      sampling: { samplesPerProblem: 32, maxNewTokens: 160 },
      mstep: { lr: 0.0003, epochs: 2, batchSize: 16 },
      evaluation: { passK: [1, 5, 10], samples: 10 },
    },
  },
  {
    id: "paper",
    label: "Paper (APPS settings of Singh et al.)",
    detail: "3 iterations, 64 samples per problem at T=0.7, top-k 40, at most 10 kept per problem, pass@k from 10 samples",
    config: {},
  },
];

export function findPreset(id: string): Preset {
  const preset = PRESETS.find((p) => p.id === id);
  if (!preset) throw new Error(`unknown preset "${id}" (${PRESETS.map((p) => p.id).join(", ")})`);
  return preset;
}

/** One `restem.<key>` setting and the config field it sets (same dotted path as in restem.json). */
export interface SettingField {
  key: string;
  configPath: string[];
}

/**
 * Settings that map onto restem.json fields. Their default is null ("not set": the preset or
 * config file decides); package.json declares each one (a unit test keeps the two in step).
 */
export const CONFIG_SETTINGS: readonly SettingField[] = [
  "variant",
  "iterations",
  "seed",
  "sampling.samplesPerProblem",
  "sampling.temperature",
  "sampling.topK",
  "sampling.topP",
  "sampling.maxNewTokens",
  "sampling.batchSize",
  "sampling.threads",
  "sampling.device",
  "filter.maxPerProblem",
  "filter.dedupe",
  "mstep.restart",
  "mstep.lr",
  "mstep.epochs",
  "mstep.batchSize",
  "mstep.gradAccumSteps",
  "mstep.maxSeqLen",
  "mstep.loraRank",
  "mstep.loraAboveParams",
  "mstep.workers",
  "mstep.ignoreMemoryCheck",
  "mstep.patience",
  "mstep.evalInterval",
  "evaluation.passK",
  "evaluation.samples",
  "evaluation.temperature",
  "evaluation.topP",
  "evaluation.trainGreedy",
  "prompt.format",
  "prompt.system",
  "judge.concurrency",
  "judge.strict",
  "judge.memoryMb",
].map((key) => ({ key, configPath: key.split(".") }));

/** Settings that are not config fields. */
export const EXTENSION_SETTINGS = ["store", "model.directory", "problems.directory", "preset"] as const;

/** Deep merge: objects merge field by field, everything else (arrays included) is replaced. */
export function mergeRaw(base: RawConfig, over: RawConfig): RawConfig {
  const out: RawConfig = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const previous = out[key];
    out[key] = isPlainObject(previous) && isPlainObject(value) ? mergeRaw(previous, value) : value;
  }
  return out;
}

function isPlainObject(value: unknown): value is RawConfig {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The config fields the user set in settings; `read(key)` returns undefined or null for "not set". */
export function overridesFromSettings(read: (key: string) => unknown): RawConfig {
  let raw: RawConfig = {};
  for (const field of CONFIG_SETTINGS) {
    const value = read(field.key);
    if (value === undefined || value === null) continue;
    let nested: unknown = value;
    for (const part of [...field.configPath].reverse()) nested = { [part]: nested };
    raw = mergeRaw(raw, nested as RawConfig);
  }
  return raw;
}

/** A config file's content with its relative problems/model paths made absolute (as loadConfigFile does). */
export function configFileLayer(raw: unknown, file: string): RawConfig {
  if (!isPlainObject(raw)) throw new Error(`${file}: the file must hold one JSON object`);
  const layer = { ...raw };
  for (const key of ["problems", "model"] as const) {
    const value = layer[key];
    if (typeof value === "string" && value !== "" && !path.isAbsolute(value)) layer[key] = path.resolve(path.dirname(file), value);
  }
  return layer;
}

export interface RunChoices {
  problems: string;
  model: string;
  preset: Preset;
  settings: RawConfig;
  /** The chosen restem.json (already through configFileLayer) and its path, or null. */
  file: { path: string; raw: RawConfig } | null;
}

/** The run's validated config; errors name the file (or "settings") and the field. */
export function buildRunConfig(choices: RunChoices): RestemConfig {
  let raw = mergeRaw(choices.preset.config, choices.settings);
  if (choices.file) raw = mergeRaw(raw, choices.file.raw);
  raw = mergeRaw(raw, { problems: choices.problems, model: choices.model });
  return parseConfig(raw, choices.file?.path ?? `preset "${choices.preset.id}" + restem.* settings`);
}

/** What "Save as restem.json" writes: the preset and settings, with paths relative to the file. */
export function configFileContent(choices: Omit<RunChoices, "file">, file: string): string {
  const relative = (target: string): string => {
    const rel = path.relative(path.dirname(file), target);
    return rel === "" ? "." : rel.split(path.sep).join("/");
  };
  const raw = mergeRaw(mergeRaw({ problems: relative(choices.problems), model: relative(choices.model) }, choices.preset.config), choices.settings);
  return JSON.stringify(raw, null, 2) + "\n";
}
