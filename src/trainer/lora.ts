// LoRA (Hu et al. 2021) for the trainer: low-rank adapters on the decoder's linear layers,
// W' = W + (alpha / r) * B A with A [r, in] (small random) and B [out, r] (zero), so a fresh
// adapter leaves the model unchanged. Adapters are WeightMaps named after the module they
// adapt ("model.layers.0.self_attn.q_proj.lora_A.weight"); merging yields a plain WeightMap,
// and saving writes the PEFT layout (adapter_model.safetensors + adapter_config.json) that
// Hugging Face peft loads with PeftModel.from_pretrained.

import * as fs from "node:fs/promises";
import * as path from "node:path";
import { mulberry32, writeFileAtomic, writeSafetensors } from "../model";
import type { ModelConfig, StorageDType, WeightMap, WeightTensor } from "../model/types";

export const LORA_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;
export type LoraModule = (typeof LORA_MODULES)[number];

/** Default targets: every attention and MLP projection (as in QLoRA). */
export const DEFAULT_LORA_TARGETS: readonly LoraModule[] = LORA_MODULES;

export interface LoraSettings {
  /** Rank r of the update B A. */
  rank: number;
  /** Scale numerator: the update is multiplied by alpha / rank. */
  alpha: number;
  /** Projection names to adapt (a subset of LORA_MODULES). */
  targetModules: readonly LoraModule[];
}

/** Prefix PEFT puts before the model's own parameter names. */
export const PEFT_PREFIX = "base_model.model.";
export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";
export const ADAPTER_CONFIG_FILE = "adapter_config.json";

export function loraScaling(settings: LoraSettings): number {
  return settings.alpha / settings.rank;
}

/** Settings with defaults filled in and checked: alpha defaults to 2 * rank. */
export function loraSettings(rank: number, alpha?: number, targetModules?: readonly string[]): LoraSettings {
  if (!Number.isInteger(rank) || rank < 1) throw new Error(`LoRA rank must be a positive integer, got ${rank}`);
  const targets = targetModules ?? DEFAULT_LORA_TARGETS;
  for (const name of targets) {
    if (!(LORA_MODULES as readonly string[]).includes(name)) {
      throw new Error(`unknown LoRA target module "${name}" (expected some of ${LORA_MODULES.join(", ")})`);
    }
  }
  const resolvedAlpha = alpha ?? 2 * rank;
  if (!(resolvedAlpha > 0)) throw new Error(`LoRA alpha must be positive, got ${resolvedAlpha}`);
  return { rank, alpha: resolvedAlpha, targetModules: [...targets] as LoraModule[] };
}

/** Module path of a projection in layer i, e.g. "model.layers.3.mlp.up_proj". */
export function modulePath(layer: number, module: LoraModule): string {
  const block = module === "gate_proj" || module === "up_proj" || module === "down_proj" ? "mlp" : "self_attn";
  return `model.layers.${layer}.${block}.${module}`;
}

/** [out, in] of a projection's PyTorch weight. */
export function moduleShape(config: ModelConfig, module: LoraModule): [number, number] {
  const h = config.hiddenSize;
  const q = config.numHeads * config.headDim;
  const kv = config.numKvHeads * config.headDim;
  const f = config.intermediateSize;
  switch (module) {
    case "q_proj":
      return [q, h];
    case "k_proj":
    case "v_proj":
      return [kv, h];
    case "o_proj":
      return [h, q];
    case "gate_proj":
    case "up_proj":
      return [f, h];
    case "down_proj":
      return [h, f];
  }
}

/** Every adapted module of the model, in layer order: [module path, projection kind]. */
export function loraTargets(config: ModelConfig, settings: LoraSettings): Array<[string, LoraModule]> {
  const targets: Array<[string, LoraModule]> = [];
  for (let layer = 0; layer < config.numLayers; layer++) {
    for (const module of LORA_MODULES) {
      if (settings.targetModules.includes(module)) targets.push([modulePath(layer, module), module]);
    }
  }
  return targets;
}

/**
 * Fresh adapters: A uniform in ±1/sqrt(in) (PEFT's kaiming_uniform(a=sqrt(5)) bound), B zero.
 * Names: `${module}.lora_A.weight` [r, in] and `${module}.lora_B.weight` [out, r].
 */
export function initLoraAdapters(config: ModelConfig, settings: LoraSettings, seed: number): WeightMap {
  const random = mulberry32(seed);
  const adapters: WeightMap = new Map();
  for (const [module, kind] of loraTargets(config, settings)) {
    const [out, inDim] = moduleShape(config, kind);
    const a = new Float32Array(settings.rank * inDim);
    const bound = 1 / Math.sqrt(inDim);
    for (let i = 0; i < a.length; i++) a[i] = (random() * 2 - 1) * bound;
    adapters.set(`${module}.lora_A.weight`, { shape: [settings.rank, inDim], data: a });
    adapters.set(`${module}.lora_B.weight`, { shape: [out, settings.rank], data: new Float32Array(out * settings.rank) });
  }
  return adapters;
}

function adapterPair(adapters: WeightMap, module: string): { a: WeightTensor; b: WeightTensor } {
  const a = adapters.get(`${module}.lora_A.weight`);
  const b = adapters.get(`${module}.lora_B.weight`);
  if (!a || !b) throw new Error(`LoRA adapters lack ${module}.lora_A/lora_B`);
  return { a, b };
}

/** W + scaling * B A for every adapted module; other weights are shared, not copied. */
export function mergeLora(base: WeightMap, adapters: WeightMap, settings: LoraSettings): WeightMap {
  const scaling = loraScaling(settings);
  const modules = new Set<string>();
  for (const name of adapters.keys()) {
    const match = /^(.*)\.lora_[AB]\.weight$/.exec(name);
    if (!match) throw new Error(`not a LoRA adapter weight name: ${name}`);
    modules.add(match[1]);
  }
  const merged: WeightMap = new Map(base);
  for (const module of modules) {
    const weightName = `${module}.weight`;
    const w = base.get(weightName);
    if (!w) throw new Error(`LoRA adapter for ${module} but the model has no ${weightName}`);
    const { a, b } = adapterPair(adapters, module);
    const [out, inDim] = w.shape;
    const r = a.shape[0];
    if (a.shape[1] !== inDim || b.shape[0] !== out || b.shape[1] !== r) {
      throw new Error(`LoRA shapes A [${a.shape}] B [${b.shape}] do not fit ${weightName} [${w.shape}]`);
    }
    const data = Float32Array.from(w.data);
    for (let o = 0; o < out; o++) {
      for (let k = 0; k < r; k++) {
        const coefficient = scaling * b.data[o * r + k];
        if (coefficient === 0) continue;
        const aRow = k * inDim;
        const wRow = o * inDim;
        for (let i = 0; i < inDim; i++) data[wRow + i] += coefficient * a.data[aRow + i];
      }
    }
    merged.set(weightName, { shape: [...w.shape], data });
  }
  return merged;
}

/** The adapter_config.json PEFT writes for a causal-LM LoRA. */
export function peftAdapterConfig(settings: LoraSettings, baseModel: string | null): Record<string, unknown> {
  return {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: baseModel,
    r: settings.rank,
    lora_alpha: settings.alpha,
    lora_dropout: 0,
    target_modules: [...settings.targetModules],
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    use_rslora: false,
    modules_to_save: null,
  };
}

/** Writes adapters alone in the PEFT layout into `dir`; returns the file names written. */
export async function saveLoraAdapter(
  dir: string,
  adapters: WeightMap,
  settings: LoraSettings,
  options: { baseModel?: string; dtype?: StorageDType } = {},
): Promise<string[]> {
  await fs.mkdir(dir, { recursive: true });
  const named: Array<[string, WeightTensor]> = [...adapters].map(([name, tensor]) => [PEFT_PREFIX + name, tensor]);
  await writeSafetensors(path.join(dir, ADAPTER_WEIGHTS_FILE), named, options.dtype ?? "F32");
  const config = peftAdapterConfig(settings, options.baseModel ?? null);
  await writeFileAtomic(path.join(dir, ADAPTER_CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
  return [ADAPTER_WEIGHTS_FILE, ADAPTER_CONFIG_FILE];
}
