// Hugging Face model directories on disk: loading the weights from model.safetensors or from
// shards listed in model.safetensors.index.json, saving them back as one file or as
// model-0000k-of-0000n.safetensors shards plus an index (all staged, fsynced, then renamed),
// and saving a complete model directory (weights, config.json, tokenizer files).

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { DTYPE_BYTES } from "./dtype";
import {
  commitStagedFiles,
  discardStagedFiles,
  readSafetensors,
  readSafetensorsHeader,
  StagedFile,
  stageFile,
  stageSafetensors,
  writeFileAtomic,
} from "./safetensors";
import type { ModelConfig, StorageDType, WeightMap, WeightTensor } from "./types";
import { elementCount, validateWeights } from "./weights";

export const SINGLE_WEIGHTS_FILE = "model.safetensors";
export const WEIGHTS_INDEX_FILE = "model.safetensors.index.json";
/** Files copied next to saved weights when the source directory has them. */
export const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "generation_config.json",
  "vocab.json",
  "merges.txt",
  "added_tokens.json",
  "chat_template.jinja",
];
const SHARD_FILE_PATTERN = /^model-\d{5}-of-\d{5}\.safetensors$/;

export interface SaveWeightsOptions {
  dtype: StorageDType;
  /** Split into shards of at most this many data bytes (a larger tensor gets a shard of its own). */
  maxShardBytes?: number;
  /** A model directory whose grouping of tensors into files (and order within them) is reused. */
  layoutFrom?: string;
}

export interface SaveModelDirectoryOptions extends SaveWeightsOptions {
  /** Directory to copy tokenizer.json, tokenizer_config.json, ... from. */
  tokenizerFrom?: string;
}

type NamedTensor = readonly [string, WeightTensor];

/** The index written next to shards, as transformers writes it. */
export interface ShardIndex {
  metadata: { total_size: number };
  weight_map: Record<string, string>;
}

async function fileExists(file: string): Promise<boolean> {
  try {
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}

/** `model-00001-of-00003.safetensors` for shard 0 of 3. */
export function shardFileName(index: number, count: number): string {
  const pad = (value: number): string => String(value).padStart(5, "0");
  return `model-${pad(index + 1)}-of-${pad(count)}.safetensors`;
}

/** Parses a model.safetensors.index.json; shard names must be plain file names in the same directory. */
export function parseShardIndex(json: unknown, file: string): Map<string, string> {
  const weightMap = typeof json === "object" && json !== null ? (json as Record<string, unknown>)["weight_map"] : undefined;
  if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
    throw new Error(`${file}: "weight_map" must be an object mapping tensor names to shard files`);
  }
  const shardOf = new Map<string, string>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== "string" || shard !== path.basename(shard) || shard === "." || shard === "..") {
      throw new Error(`${file}: tensor "${name}" maps to ${JSON.stringify(shard)}, which is not a file name in this directory`);
    }
    shardOf.set(name, shard);
  }
  return shardOf;
}

async function readShardIndex(file: string): Promise<Map<string, string>> {
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(file, "utf8"));
  } catch (error) {
    throw new Error(`${file}: cannot read the shard index (${(error as Error).message})`);
  }
  return parseShardIndex(json, file);
}

/** Groups the index's tensor names by shard file, files in name order. */
function namesByShard(shardOf: Map<string, string>): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const shard of [...new Set(shardOf.values())].sort()) {
    groups.set(shard, []);
  }
  for (const [name, shard] of shardOf) {
    groups.get(shard)?.push(name);
  }
  return groups;
}

async function loadShardedWeights(dir: string, shardOf: Map<string, string>): Promise<WeightMap> {
  const weights: WeightMap = new Map();
  for (const [shard, names] of namesByShard(shardOf)) {
    const file = path.join(dir, shard);
    if (!(await fileExists(file))) {
      throw new Error(`${path.join(dir, WEIGHTS_INDEX_FILE)}: shard ${shard} is listed but missing`);
    }
    const { tensors } = await readSafetensors(file, new Set(names));
    const absent = names.filter((name) => !tensors.has(name));
    if (absent.length > 0) {
      throw new Error(`${file}: ${absent.length} tensor(s) listed in the index are not in this shard: ${absent.slice(0, 5).join(", ")}`);
    }
    for (const [name, tensor] of tensors) {
      weights.set(name, tensor);
    }
  }
  return weights;
}

/** Loads all weights of a model directory as float32 (one file or shards with an index). */
export async function loadModelWeights(dir: string): Promise<WeightMap> {
  const single = path.join(dir, SINGLE_WEIGHTS_FILE);
  if (await fileExists(single)) {
    return (await readSafetensors(single)).tensors;
  }
  const index = path.join(dir, WEIGHTS_INDEX_FILE);
  if (await fileExists(index)) {
    return loadShardedWeights(dir, await readShardIndex(index));
  }
  const hasPytorchBin = (await fileExists(path.join(dir, "pytorch_model.bin"))) || (await fileExists(path.join(dir, "pytorch_model.bin.index.json")));
  throw new Error(
    `${dir}: no ${SINGLE_WEIGHTS_FILE} or ${WEIGHTS_INDEX_FILE}` +
      (hasPytorchBin ? " (PyTorch .bin checkpoints are not supported; convert them to safetensors)" : ""),
  );
}

/** Greedy sharding in the given order: a new shard starts when the next tensor would overflow. */
export function planShards(sizes: ReadonlyArray<readonly [string, number]>, maxShardBytes: number): string[][] {
  const shards: string[][] = [];
  let current: string[] = [];
  let currentBytes = 0;
  for (const [name, bytes] of sizes) {
    if (current.length > 0 && currentBytes + bytes > maxShardBytes) {
      shards.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(name);
    currentBytes += bytes;
  }
  if (current.length > 0 || shards.length === 0) {
    shards.push(current);
  }
  return shards;
}

/** The grouping of tensor names into files of an existing model directory, in data order. */
async function readLayout(dir: string): Promise<string[][]> {
  const single = path.join(dir, SINGLE_WEIGHTS_FILE);
  if (await fileExists(single)) {
    return [(await readSafetensorsHeader(single)).entries.map((entry) => entry.name)];
  }
  const index = path.join(dir, WEIGHTS_INDEX_FILE);
  if (!(await fileExists(index))) {
    throw new Error(`layoutFrom ${dir}: no ${SINGLE_WEIGHTS_FILE} or ${WEIGHTS_INDEX_FILE}`);
  }
  const groups: string[][] = [];
  for (const [shard, names] of namesByShard(await readShardIndex(index))) {
    const listed = new Set(names);
    const header = await readSafetensorsHeader(path.join(dir, shard));
    groups.push(header.entries.map((entry) => entry.name).filter((name) => listed.has(name)));
  }
  return groups;
}

/** Applies a source layout to `weights`: tensors it does not mention join the last file. */
function applyLayout(layout: string[][], weights: WeightMap): string[][] {
  const placed = new Set<string>();
  const groups = layout.map((names) => {
    const kept: string[] = [];
    for (const name of names) {
      if (weights.has(name) && !placed.has(name)) {
        placed.add(name);
        kept.push(name);
      }
    }
    return kept;
  });
  const leftovers = [...weights.keys()].filter((name) => !placed.has(name));
  const nonEmpty = groups.filter((names) => names.length > 0);
  if (nonEmpty.length === 0) {
    return [leftovers];
  }
  nonEmpty[nonEmpty.length - 1].push(...leftovers);
  return nonEmpty;
}

function checkSaveOptions(options: SaveWeightsOptions): void {
  if (!(options.dtype in DTYPE_BYTES)) {
    throw new Error(`cannot save weights as ${JSON.stringify(options.dtype)}: restem writes F32, F16 or BF16`);
  }
  const max = options.maxShardBytes;
  if (max !== undefined && (!Number.isSafeInteger(max) || max <= 0)) {
    throw new Error(`maxShardBytes must be a positive integer (got ${max})`);
  }
  if (max !== undefined && options.layoutFrom !== undefined) {
    throw new Error("give either maxShardBytes or layoutFrom, not both");
  }
}

async function groupTensors(weights: WeightMap, options: SaveWeightsOptions): Promise<string[][]> {
  if (options.layoutFrom !== undefined) {
    return applyLayout(await readLayout(options.layoutFrom), weights);
  }
  if (options.maxShardBytes !== undefined) {
    const bytes = DTYPE_BYTES[options.dtype];
    const sizes = [...weights].map(([name, tensor]) => [name, elementCount(tensor.shape) * bytes] as const);
    return planShards(sizes, options.maxShardBytes);
  }
  return [[...weights.keys()]];
}

/** The index JSON for shards: total data bytes and a name-sorted weight map. */
function buildShardIndex(groups: string[][], weights: WeightMap, dtype: StorageDType): ShardIndex {
  const entries: Array<[string, string]> = [];
  let totalSize = 0;
  groups.forEach((names, index) => {
    for (const name of names) {
      entries.push([name, shardFileName(index, groups.length)]);
      totalSize += elementCount((weights.get(name) as WeightTensor).shape) * DTYPE_BYTES[dtype];
    }
  });
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { metadata: { total_size: totalSize }, weight_map: Object.fromEntries(entries) };
}

/** Deletes weight files of an earlier save that the new one does not include. */
async function removeStaleWeightFiles(dir: string, keep: ReadonlySet<string>): Promise<void> {
  for (const name of await fs.readdir(dir)) {
    const isWeightFile = name === SINGLE_WEIGHTS_FILE || name === WEIGHTS_INDEX_FILE || SHARD_FILE_PATTERN.test(name);
    if (isWeightFile && !keep.has(name)) {
      await fs.rm(path.join(dir, name), { force: true });
    }
  }
}

/** Stages every file of the save: one model.safetensors, or the shards then the index. */
async function stageWeightFiles(dir: string, groups: string[][], weights: WeightMap, dtype: StorageDType): Promise<StagedFile[]> {
  const staged: StagedFile[] = [];
  try {
    for (const [index, names] of groups.entries()) {
      const fileName = groups.length === 1 ? SINGLE_WEIGHTS_FILE : shardFileName(index, groups.length);
      const tensors: NamedTensor[] = names.map((name) => [name, weights.get(name) as WeightTensor]);
      staged.push(await stageSafetensors(path.join(dir, fileName), tensors, dtype));
    }
    if (groups.length > 1) {
      const indexText = `${JSON.stringify(buildShardIndex(groups, weights, dtype), null, 2)}\n`;
      staged.push(await stageFile(path.join(dir, WEIGHTS_INDEX_FILE), (handle) => handle.writeFile(indexText)));
    }
  } catch (error) {
    await discardStagedFiles(staged);
    throw error;
  }
  return staged;
}

/**
 * Saves `weights` into `dir` as `options.dtype`: one model.safetensors, or shards and an index
 * when maxShardBytes or a sharded layoutFrom asks for them. Returns the file names written.
 */
export async function saveModelWeights(dir: string, weights: WeightMap, options: SaveWeightsOptions): Promise<string[]> {
  checkSaveOptions(options);
  const groups = await groupTensors(weights, options);
  await fs.mkdir(dir, { recursive: true });
  const staged = await stageWeightFiles(dir, groups, weights, options.dtype);
  await commitStagedFiles(staged);
  const written = staged.map((file) => path.basename(file.destination));
  await removeStaleWeightFiles(dir, new Set(written));
  return written;
}

/** Copies the tokenizer files `source` has into `dir` (each atomically); returns their names. */
async function copyTokenizerFiles(source: string, dir: string): Promise<string[]> {
  if (path.resolve(source) === path.resolve(dir)) {
    return [];
  }
  const copied: string[] = [];
  for (const name of TOKENIZER_FILES) {
    const from = path.join(source, name);
    if (await fileExists(from)) {
      await writeFileAtomic(path.join(dir, name), await fs.readFile(from));
      copied.push(name);
    }
  }
  return copied;
}

/**
 * Saves a complete model directory: the weights (validated against `config` first),
 * config.json from `config.raw`, and the tokenizer files of `options.tokenizerFrom`.
 * Returns the names of the files written.
 */
export async function saveModelDirectory(
  dir: string,
  config: ModelConfig,
  weights: WeightMap,
  options: SaveModelDirectoryOptions,
): Promise<string[]> {
  validateWeights(config, weights, `weights to save in ${dir}`);
  const written = await saveModelWeights(dir, weights, options);
  await writeFileAtomic(path.join(dir, "config.json"), `${JSON.stringify(config.raw, null, 2)}\n`);
  written.push("config.json");
  if (options.tokenizerFrom !== undefined) {
    written.push(...(await copyTokenizerFiles(options.tokenizerFrom, dir)));
  }
  return written;
}
