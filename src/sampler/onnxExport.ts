// Writes a decoder as an ONNX model directory (model.onnx + external model.onnx.data +
// restem-onnx.json manifest) and rewrites only the data file after a training step. The
// directory is a cache keyed by the config and the graph format version, kept next to the
// model by default: <modelDir>/.restem-onnx/<key>/.

import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { ModelConfig, WeightMap } from "../model/types";
import { buildDecoderGraph, EXTERNAL_DATA_FILE, GRAPH_FORMAT_VERSION, type LayoutEntry, weightLayout, type WeightLayout } from "./onnxGraph";

export const ONNX_MODEL_FILE = "model.onnx";
export const MANIFEST_FILE = "restem-onnx.json";
/** Identifies the weights in the data file (e.g. sizes and mtimes of the checkpoint files). */
export const WEIGHTS_STAMP_FILE = "weights.stamp";

interface Manifest {
  formatVersion: number;
  configKey: string;
  dataFile: string;
  totalBytes: number;
  tensors: Array<{ name: string; offset: number; length: number }>;
}

/** Paths of one exported model. */
export interface OnnxModelFiles {
  dir: string;
  modelPath: string;
  dataPath: string;
}

/** A stable key for the graph a config produces (the raw config.json does not affect it). */
export function onnxConfigKey(config: ModelConfig): string {
  const text = JSON.stringify({ format: GRAPH_FORMAT_VERSION, fields: config }, (key: string, value: unknown) => (key === "raw" ? undefined : value));
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** The cache directory for `config`: `<cacheRoot>/<key>` with cacheRoot `<modelDir>/.restem-onnx`. */
export function onnxCacheDir(modelDir: string, config: ModelConfig, cacheRoot?: string): string {
  return path.join(cacheRoot ?? path.join(modelDir, ".restem-onnx"), onnxConfigKey(config));
}

export function onnxModelFiles(dir: string): OnnxModelFiles {
  return { dir, modelPath: path.join(dir, ONNX_MODEL_FILE), dataPath: path.join(dir, EXTERNAL_DATA_FILE) };
}

function manifestFor(config: ModelConfig, layout: WeightLayout): Manifest {
  return {
    formatVersion: GRAPH_FORMAT_VERSION,
    configKey: onnxConfigKey(config),
    dataFile: EXTERNAL_DATA_FILE,
    totalBytes: layout.totalBytes,
    tensors: layout.entries.map((e) => ({ name: e.onnxName, offset: e.offset, length: e.length })),
  };
}

/** The bytes of one layout entry: the HF tensor, transposed to [in, out] for Linear weights. */
function entryBytes(entry: LayoutEntry, weights: WeightMap): Uint8Array {
  const tensor = weights.get(entry.hfName);
  if (!tensor) throw new Error(`weights lack ${entry.hfName}`);
  const { shape, data } = tensor;
  if (shape.length !== entry.hfShape.length || shape.some((d, i) => d !== entry.hfShape[i])) {
    throw new Error(`weight ${entry.hfName} has shape [${shape.join(", ")}], the config needs [${entry.hfShape.join(", ")}]`);
  }
  if (data.length * 4 !== entry.length) throw new Error(`weight ${entry.hfName} holds ${data.length} values, shape needs ${entry.length / 4}`);
  let stored = data;
  if (entry.transpose) {
    const [rows, cols] = entry.hfShape; // [out, in] -> [in, out]
    stored = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      for (let c = 0; c < cols; c++) stored[c * rows + r] = data[base + c];
    }
  }
  return new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
}

/** Writes the external data file atomically (temp file + rename, so open sessions keep their copy). */
function writeDataFile(dataPath: string, layout: WeightLayout, weights: WeightMap): void {
  // Check everything before touching the disk.
  for (const entry of layout.entries) if (!weights.has(entry.hfName)) throw new Error(`weights lack ${entry.hfName}`);
  const temp = `${dataPath}.${process.pid}.tmp`;
  const fd = fs.openSync(temp, "w");
  try {
    for (const entry of layout.entries) {
      const bytes = entryBytes(entry, weights);
      let written = 0;
      while (written < bytes.length) written += fs.writeSync(fd, bytes, written, bytes.length - written, entry.offset + written);
    }
    fs.ftruncateSync(fd, layout.totalBytes);
  } catch (error) {
    fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw error;
  }
  fs.closeSync(fd);
  fs.renameSync(temp, dataPath);
}

export interface WriteOptions {
  /** Recorded next to the data file (see onnxWeightsStamp) so callers can skip rewriting it. */
  weightsStamp?: string;
}

/** The stamp of the weights last written to `dir`, or null. */
export function onnxWeightsStamp(dir: string): string | null {
  try {
    return fs.readFileSync(path.join(dir, WEIGHTS_STAMP_FILE), "utf8");
  } catch {
    return null;
  }
}

/** Writes the data file with the stamp removed first, so an interrupted write leaves no stale stamp. */
function writeWeights(dir: string, layout: WeightLayout, weights: WeightMap, options: WriteOptions): void {
  const stampPath = path.join(dir, WEIGHTS_STAMP_FILE);
  fs.rmSync(stampPath, { force: true });
  writeDataFile(path.join(dir, EXTERNAL_DATA_FILE), layout, weights);
  if (options.weightsStamp !== undefined) fs.writeFileSync(stampPath, options.weightsStamp);
}

/** Exports graph + weights into `dir` (created if needed); returns the file paths. */
export function writeOnnxModel(dir: string, config: ModelConfig, weights: WeightMap, options: WriteOptions = {}): OnnxModelFiles {
  const files = onnxModelFiles(dir);
  const layout = weightLayout(config);
  const graph = buildDecoderGraph(config, layout, EXTERNAL_DATA_FILE);
  fs.mkdirSync(dir, { recursive: true });
  writeWeights(dir, layout, weights, options);
  const tempModel = `${files.modelPath}.${process.pid}.tmp`;
  fs.writeFileSync(tempModel, graph);
  fs.renameSync(tempModel, files.modelPath);
  fs.writeFileSync(path.join(dir, MANIFEST_FILE), JSON.stringify(manifestFor(config, layout), null, 1) + "\n");
  return files;
}

function readManifest(dir: string): Manifest | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, MANIFEST_FILE), "utf8")) as Manifest;
  } catch {
    return null;
  }
}

/** True when `dir` holds an export of exactly this config's graph (weights may differ). */
export function isOnnxExportCurrent(dir: string, config: ModelConfig): boolean {
  const manifest = readManifest(dir);
  const files = onnxModelFiles(dir);
  if (!manifest || !fs.existsSync(files.modelPath) || !fs.existsSync(files.dataPath)) return false;
  const expected = manifestFor(config, weightLayout(config));
  return JSON.stringify(manifest) === JSON.stringify(expected);
}

/**
 * Rewrites only model.onnx.data with new weights in the existing layout; the graph file is
 * untouched. Sessions must be re-created to see the new weights. Fails when `dir` holds a graph
 * for another config or format version (export again with writeOnnxModel).
 */
export function updateOnnxWeights(dir: string, config: ModelConfig, weights: WeightMap, options: WriteOptions = {}): OnnxModelFiles {
  if (!isOnnxExportCurrent(dir, config)) {
    throw new Error(`${dir} does not hold an ONNX export of this config (graph format ${GRAPH_FORMAT_VERSION}); export it with writeOnnxModel first`);
  }
  writeWeights(dir, weightLayout(config), weights, options);
  return onnxModelFiles(dir);
}

export interface EnsureOnnxOptions {
  /** Where exports are cached (default `<modelDir>/.restem-onnx`). */
  cacheRoot?: string;
  /**
   * Identifies the weights (e.g. checkpoint file sizes and mtimes). When the cached export
   * carries the same stamp, its data file is kept and the weights are not even loaded.
   */
  weightsStamp?: string;
}

/**
 * The export for a model directory's config: the graph is written only when the cache has
 * none for this config; the data file is rewritten unless its stamp matches `weightsStamp`.
 * `weights` may be a loader, called only when the data file must be written.
 */
export async function ensureOnnxModel(
  modelDir: string,
  config: ModelConfig,
  weights: WeightMap | (() => Promise<WeightMap>),
  options: EnsureOnnxOptions = {},
): Promise<OnnxModelFiles> {
  const dir = onnxCacheDir(modelDir, config, options.cacheRoot);
  const current = isOnnxExportCurrent(dir, config);
  if (current && options.weightsStamp !== undefined && onnxWeightsStamp(dir) === options.weightsStamp) return onnxModelFiles(dir);
  const loaded = typeof weights === "function" ? await weights() : weights;
  const writeOptions = { weightsStamp: options.weightsStamp };
  return current ? updateOnnxWeights(dir, config, loaded, writeOptions) : writeOnnxModel(dir, config, loaded, writeOptions);
}

/** A stamp for the checkpoint files of `modelDir` (*.safetensors names, sizes and mtimes). */
export function checkpointStamp(modelDir: string): string {
  const parts = fs
    .readdirSync(modelDir)
    .filter((name) => name.endsWith(".safetensors") || name.endsWith(".safetensors.index.json"))
    .sort()
    .map((name) => {
      const stat = fs.statSync(path.join(modelDir, name));
      return `${name}:${stat.size}:${stat.mtimeMs}`;
    });
  return createHash("sha256").update(parts.join("\n")).digest("hex");
}
