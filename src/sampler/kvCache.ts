// The decoder's key/value cache as plain Float32Arrays, and the row operations generation needs:
// an empty cache, tiling one prefilled row to N sampling rows, keeping only the rows still
// generating, and building the int64 inputs (attention mask, positions) of a decoding step.

/** Sizes the cache and the decoder feeds need; a subset of ModelConfig. */
export interface DecoderDims {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
}

/** Per layer, keys and values [batch, kvHeads, length, headDim], row-major. */
export interface KvCache {
  batch: number;
  length: number;
  keys: Float32Array[];
  values: Float32Array[];
}

/** A cache with no positions yet, as the prefill's past_key_values. */
export function emptyKvCache(dims: DecoderDims, batch: number): KvCache {
  const empty = (): Float32Array[] => Array.from({ length: dims.numLayers }, () => new Float32Array(0));
  return { batch, length: 0, keys: empty(), values: empty() };
}

function checkCache(cache: KvCache, dims: DecoderDims): number {
  const rowSize = dims.numKvHeads * cache.length * dims.headDim;
  for (const tensor of [...cache.keys, ...cache.values]) {
    if (tensor.length !== cache.batch * rowSize) {
      throw new Error(`KV cache tensor holds ${tensor.length} values, expected ${cache.batch} x ${rowSize}`);
    }
  }
  return rowSize;
}

/**
 * Repeats every row `times` times: [b, kv, len, d] -> [b*times, kv, len, d], rows of one source
 * next to each other. Used to share one prompt prefill between N samples.
 */
export function tileKvCache(cache: KvCache, dims: DecoderDims, times: number): KvCache {
  const rowSize = checkCache(cache, dims);
  const tile = (tensor: Float32Array): Float32Array => {
    const out = new Float32Array(tensor.length * times);
    for (let row = 0; row < cache.batch; row++) {
      const source = tensor.subarray(row * rowSize, (row + 1) * rowSize);
      for (let t = 0; t < times; t++) out.set(source, (row * times + t) * rowSize);
    }
    return out;
  };
  return { batch: cache.batch * times, length: cache.length, keys: cache.keys.map(tile), values: cache.values.map(tile) };
}

/** Keeps the listed rows, in that order: [b, kv, len, d] -> [rows.length, kv, len, d]. */
export function selectKvRows(cache: KvCache, dims: DecoderDims, rows: number[]): KvCache {
  const rowSize = checkCache(cache, dims);
  if (rows.length === cache.batch && rows.every((r, i) => r === i)) return cache;
  const pick = (tensor: Float32Array): Float32Array => {
    const out = new Float32Array(rows.length * rowSize);
    rows.forEach((row, i) => {
      if (row < 0 || row >= cache.batch) throw new Error(`KV cache row ${row} out of range`);
      out.set(tensor.subarray(row * rowSize, (row + 1) * rowSize), i * rowSize);
    });
    return out;
  };
  return { batch: rows.length, length: cache.length, keys: cache.keys.map(pick), values: cache.values.map(pick) };
}

/** [batch, length] filled with ones: no padding. */
export function onesMask(batch: number, length: number): BigInt64Array {
  return new BigInt64Array(batch * length).fill(1n);
}

/** [batch, seq] positions start, start+1, ... in every row. */
export function positionRange(batch: number, start: number, seq: number): BigInt64Array {
  const out = new BigInt64Array(batch * seq);
  for (let b = 0; b < batch; b++) for (let s = 0; s < seq; s++) out[b * seq + s] = BigInt(start + s);
  return out;
}

/**
 * Left-pads prompts of different lengths into one batch: input_ids [batch, maxLen] (pad id in
 * front), attention_mask [batch, maxLen] (0 on padding) and position_ids counting real tokens
 * only (padding gets position 0), as Hugging Face's generate() does.
 */
export function leftPadBatch(prompts: number[][], padId: number): {
  batch: number;
  seq: number;
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  positionIds: BigInt64Array;
} {
  const batch = prompts.length;
  const seq = Math.max(...prompts.map((p) => p.length));
  const inputIds = new BigInt64Array(batch * seq).fill(BigInt(padId));
  const attentionMask = new BigInt64Array(batch * seq);
  const positionIds = new BigInt64Array(batch * seq);
  prompts.forEach((prompt, b) => {
    const pad = seq - prompt.length;
    prompt.forEach((id, i) => {
      inputIds[b * seq + pad + i] = BigInt(id);
      attentionMask[b * seq + pad + i] = 1n;
      positionIds[b * seq + pad + i] = BigInt(i);
    });
  });
  return { batch, seq, inputIds, attentionMask, positionIds };
}

/** Index of the largest value of row `row` of logits [rows, vocab] (first on ties). */
export function argmaxRow(logits: Float32Array, vocab: number, row: number): number {
  let best = 0;
  const base = row * vocab;
  for (let i = 1; i < vocab; i++) if (logits[base + i] > logits[base + best]) best = i;
  return best;
}

/** Copy of the logits of position `position` of row `row` of logits [batch, seq, vocab]. */
export function logitsAt(logits: Float32Array, seq: number, vocab: number, row: number, position: number): Float32Array {
  const start = (row * seq + position) * vocab;
  return logits.slice(start, start + vocab);
}
