// Unit tests for src/model's storage layer: float16/bfloat16 conversions (exact values,
// subnormals, infinities, NaN, ties to even, and a brute-force nearest-value check), the
// safetensors reader and writer (round trips in F32/F16/BF16, header alignment, every header
// validation error), sharded checkpoints with their index, saveModelDirectory, and an
// independent Python reader (safetensors, else numpy) when python3 has one.

import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { promises as fs, readFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  bfloat16ToNumber,
  float16ToNumber,
  loadModelConfig,
  loadModelWeights,
  loadTokenizer,
  numberToBFloat16,
  numberToFloat16,
  parseModelConfig,
  randomWeights,
  readSafetensors,
  saveModelDirectory,
  saveModelWeights,
  StorageDType,
  WeightMap,
  writeSafetensors,
} from "../../src/model";
import { float32ArrayToFloat16, float16ArrayToFloat32 } from "../../src/model/dtype";

const FIXTURES = path.resolve(__dirname, "../../../test/fixtures/model");
const TINY_LLAMA = JSON.parse(readFileSync(path.join(FIXTURES, "configs/tiny-llama.json"), "utf8")) as Record<string, unknown>;
const TINY_CONFIG = parseModelConfig(TINY_LLAMA, "tiny-llama.json");

describe("model dtype: float16", () => {
  const cases: Array<[number, number]> = [
    [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff],
    [2 ** -14, 0x0400], [2 ** -24, 0x0001], [1023 * 2 ** -24, 0x03ff], [Infinity, 0x7c00], [-Infinity, 0xfc00],
  ];
  for (const [value, bits] of cases) {
    it(`${Object.is(value, -0) ? "-0" : value} <-> 0x${bits.toString(16)}`, () => {
      assert.equal(numberToFloat16(value), bits);
      assert.ok(Object.is(float16ToNumber(bits), value));
    });
  }

  it("rounds to nearest, ties to even, in normals and subnormals, and overflows to infinity", () => {
    assert.equal(numberToFloat16(1 + 2 ** -11), 0x3c00); // tie, even stays
    assert.equal(numberToFloat16(1 + 3 * 2 ** -11), 0x3c02); // tie, odd rounds up
    assert.equal(numberToFloat16(1 + 2 ** -11 + 2 ** -20), 0x3c01); // just above the tie
    assert.equal(numberToFloat16(65519), 0x7bff);
    assert.equal(numberToFloat16(65520), 0x7c00); // tie between max and 2^16 rounds to even = infinity
    assert.equal(numberToFloat16(1e10), 0x7c00);
    assert.equal(numberToFloat16(2 ** -25), 0x0000); // tie between 0 and the smallest subnormal
    assert.equal(numberToFloat16(1.5 * 2 ** -25), 0x0001);
    assert.equal(numberToFloat16(3 * 2 ** -25), 0x0002); // tie between 1 and 2 subnormal units
    assert.equal(numberToFloat16(1023.5 * 2 ** -24), 0x0400); // subnormal rounds up into the normals
    assert.equal(numberToFloat16(-(2 ** -26)), 0x8000); // underflow keeps the sign
    assert.equal(numberToFloat16(2 ** -149), 0x0000); // float32 subnormal input
  });

  it("keeps NaN a NaN", () => {
    const bits = numberToFloat16(Number.NaN);
    assert.equal(bits & 0x7c00, 0x7c00);
    assert.notEqual(bits & 0x3ff, 0);
    assert.ok(Number.isNaN(float16ToNumber(0x7e00)));
    assert.ok(Number.isNaN(float16ToNumber(0xfc01)));
  });

  it("widens all 65536 patterns exactly (checked against 2^e arithmetic) and narrows them back", () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const sign = bits & 0x8000 ? -1 : 1;
      const exponent = (bits >>> 10) & 0x1f;
      const mantissa = bits & 0x3ff;
      const value = float16ToNumber(bits);
      if (exponent === 0x1f) {
        assert.ok(mantissa === 0 ? value === sign * Infinity : Number.isNaN(value));
        continue;
      }
      const expected = exponent === 0 ? sign * mantissa * 2 ** -24 : sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
      assert.ok(Object.is(value, expected), `0x${bits.toString(16)}`);
      assert.equal(numberToFloat16(value), bits);
    }
  });

  it("narrows random float32 values to the nearest half (brute force over sorted halves)", () => {
    const halves: number[] = [];
    for (let bits = 0; bits < 0x7c00; bits++) {
      halves.push(float16ToNumber(bits));
    }
    let state = 12345;
    const source = new Float32Array(20000);
    for (let i = 0; i < source.length; i++) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      source[i] = (state / 2 ** 32 - 0.5) * 2 ** ((i % 40) - 26);
    }
    const narrowed = new Uint16Array(source.length);
    float32ArrayToFloat16(source, narrowed);
    for (let i = 0; i < source.length; i++) {
      const magnitude = Math.abs(source[i]);
      let low = 0;
      let high = halves.length - 1;
      while (high - low > 1) {
        const mid = (low + high) >> 1;
        if (halves[mid] <= magnitude) low = mid;
        else high = mid;
      }
      const below = magnitude - halves[low];
      const above = halves[high] - magnitude;
      const nearest = below < above || (below === above && low % 2 === 0) ? low : high;
      assert.equal(narrowed[i] & 0x7fff, magnitude >= halves[high] ? high : nearest, `value ${source[i]}`);
    }
    const widened = new Float32Array(source.length);
    float16ArrayToFloat32(narrowed, widened);
    assert.equal(float16ToNumber(narrowed[5]), widened[5]);
  });
});

describe("model dtype: bfloat16", () => {
  it("converts exact values both ways", () => {
    assert.equal(numberToBFloat16(1), 0x3f80);
    assert.equal(numberToBFloat16(-2), 0xc000);
    assert.equal(numberToBFloat16(-0), 0x8000);
    assert.equal(numberToBFloat16(Infinity), 0x7f80);
    assert.equal(bfloat16ToNumber(0x3f80), 1);
    assert.equal(bfloat16ToNumber(0x4049), 3.140625);
    assert.equal(bfloat16ToNumber(0x0001), 2 ** -133); // subnormal
    assert.equal(numberToBFloat16(2 ** -133), 0x0001);
    assert.equal(bfloat16ToNumber(0xff80), -Infinity);
  });

  it("rounds to nearest, ties to even, and overflows to infinity", () => {
    assert.equal(numberToBFloat16(1 + 2 ** -8), 0x3f80);
    assert.equal(numberToBFloat16(1 + 3 * 2 ** -8), 0x3f82);
    assert.equal(numberToBFloat16(1 + 2 ** -8 + 2 ** -20), 0x3f81);
    assert.equal(numberToBFloat16(3.4028234663852886e38), 0x7f80);
    assert.equal(numberToBFloat16(2 ** -149), 0x0000);
  });

  it("keeps NaN a NaN even when its payload sits in the dropped bits", () => {
    assert.ok(Number.isNaN(bfloat16ToNumber(numberToBFloat16(Number.NaN))));
    const view = new DataView(new ArrayBuffer(4));
    view.setUint32(0, 0x7f800001);
    assert.ok(Number.isNaN(bfloat16ToNumber(numberToBFloat16(view.getFloat32(0)))));
  });
});

/** The largest |a - b| / max(|a|, tiny) over two tensors. */
function maxRelativeError(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(Math.abs(a[i]), 1e-3));
  }
  return worst;
}

/** A safetensors file from a header object and raw data bytes. */
function craftSafetensors(header: unknown, data: Uint8Array, lengthOverride?: number): Buffer {
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(lengthOverride ?? json.length));
  return Buffer.concat([prefix, json, data]);
}

describe("model safetensors: files", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "restem-st-"));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  for (const [dtype, tolerance] of [["F32", 0], ["F16", 2 ** -11], ["BF16", 2 ** -8]] as Array<[StorageDType, number]>) {
    it(`round-trips a single file in ${dtype} (relative error <= ${tolerance})`, async () => {
      const weights = randomWeights(TINY_CONFIG, 5, 0.5);
      const written = await saveModelWeights(dir, weights, { dtype });
      assert.deepEqual(written, ["model.safetensors"]);
      const { tensors, dtypes, metadata } = await readSafetensors(path.join(dir, "model.safetensors"));
      assert.deepEqual(metadata, { format: "pt" });
      assert.deepEqual([...tensors.keys()].sort(), [...weights.keys()].sort());
      for (const [name, tensor] of weights) {
        assert.equal(dtypes.get(name), dtype);
        assert.deepEqual(tensors.get(name)?.shape, tensor.shape);
        assert.ok(maxRelativeError(tensor.data, tensors.get(name)?.data ?? new Float32Array()) <= tolerance, name);
      }
    });
  }

  it("reads and writes a tensor larger than one 64 MiB chunk", async () => {
    const length = 17_000_000;
    const data = new Float32Array(length);
    for (let i = 0; i < length; i += 997) {
      data[i] = i;
    }
    const file = path.join(dir, "big.safetensors");
    await writeSafetensors(file, new Map([["big", { shape: [1000, length / 1000], data }]]), "F32");
    const read = (await readSafetensors(file)).tensors.get("big")?.data ?? new Float32Array();
    assert.equal(read.length, length);
    for (const i of [0, 997 * 16_829, 997 * 16_830, 997 * 17_050, 16_999_999]) {
      assert.equal(read[i], data[i], `element ${i}`);
    }
  });

  it("pads the JSON header with spaces to an 8-byte boundary", async () => {
    const file = path.join(dir, "one.safetensors");
    await writeSafetensors(file, new Map([["x", { shape: [3], data: new Float32Array([1, 2, 3]) }]]), "F16");
    const bytes = await fs.readFile(file);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    assert.equal(headerLength % 8, 0);
    assert.equal(bytes[8], "{".charCodeAt(0));
    assert.equal(bytes.length, 8 + headerLength + 6);
    assert.deepEqual(JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8")), {
      __metadata__: { format: "pt" },
      x: { dtype: "F16", shape: [3], data_offsets: [0, 6] },
    });
    assert.deepEqual([...bytes.subarray(8 + headerLength)], [0x00, 0x3c, 0x00, 0x40, 0x00, 0x42]);
  });

  it("shards by maxShardBytes with HF names and an index, and loads them back", async () => {
    const weights = randomWeights(TINY_CONFIG, 9);
    const written = await saveModelWeights(dir, weights, { dtype: "BF16", maxShardBytes: 40_000 });
    const shards = written.filter((name) => name.endsWith(".safetensors"));
    assert.ok(shards.length >= 3, written.join());
    assert.deepEqual(shards, shards.map((_, i) => `model-${String(i + 1).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.safetensors`));
    const index = JSON.parse(await fs.readFile(path.join(dir, "model.safetensors.index.json"), "utf8")) as {
      metadata: { total_size: number };
      weight_map: Record<string, string>;
    };
    const totalElements = [...weights.values()].reduce((sum, tensor) => sum + tensor.data.length, 0);
    assert.equal(index.metadata.total_size, totalElements * 2);
    assert.deepEqual(Object.keys(index.weight_map), [...weights.keys()].sort());
    const loaded = await loadModelWeights(dir);
    assert.equal(loaded.size, weights.size);
    for (const [name, tensor] of weights) {
      assert.ok(maxRelativeError(tensor.data, loaded.get(name)?.data ?? new Float32Array()) <= 2 ** -8, name);
    }
    for (const shard of shards) {
      assert.ok((await fs.stat(path.join(dir, shard))).size <= 40_000 + 4096, shard);
    }
  });

  it("reuses another directory's layout and removes stale files of an earlier save", async () => {
    const source = path.join(dir, "source");
    const weights = randomWeights(TINY_CONFIG, 2);
    await saveModelWeights(source, weights, { dtype: "F32", maxShardBytes: 100_000 });
    const target = path.join(dir, "target");
    await saveModelWeights(target, weights, { dtype: "F32", maxShardBytes: 10_000 });
    await saveModelWeights(target, weights, { dtype: "F16", layoutFrom: source });
    const sourceIndex = await fs.readFile(path.join(source, "model.safetensors.index.json"), "utf8");
    const targetIndex = JSON.parse(await fs.readFile(path.join(target, "model.safetensors.index.json"), "utf8")) as { weight_map: unknown };
    assert.deepEqual(targetIndex.weight_map, (JSON.parse(sourceIndex) as { weight_map: unknown }).weight_map);
    const sourceFiles = (await fs.readdir(source)).sort();
    assert.deepEqual((await fs.readdir(target)).sort(), sourceFiles);
    await saveModelWeights(target, weights, { dtype: "F16" });
    assert.deepEqual(await fs.readdir(target), ["model.safetensors"]);
  });

  it("refuses bad save options", async () => {
    const weights = randomWeights(TINY_CONFIG, 2);
    await assert.rejects(saveModelWeights(dir, weights, { dtype: "F64" as StorageDType }), /restem writes F32, F16 or BF16/);
    await assert.rejects(saveModelWeights(dir, weights, { dtype: "F32", maxShardBytes: 0 }), /maxShardBytes must be a positive integer/);
    await assert.rejects(saveModelWeights(dir, weights, { dtype: "F32", maxShardBytes: 10, layoutFrom: dir }), /either maxShardBytes or layoutFrom/);
    const bad: WeightMap = new Map([["x", { shape: [4], data: new Float32Array(3) }]]);
    await assert.rejects(saveModelWeights(dir, bad, { dtype: "F32" }), /"x" holds 3 values but its shape \[4\] needs 4/);
    assert.deepEqual(await fs.readdir(dir), []); // nothing half-written left behind
  });

  describe("header validation", () => {
    const good = { x: { dtype: "F32", shape: [2], data_offsets: [0, 8] } };
    const cases: Array<[string, () => Buffer, RegExp]> = [
      ["a file shorter than 8 bytes", () => Buffer.from([1, 2, 3]), /not a safetensors file \(3 bytes/],
      ["a header length beyond the file", () => craftSafetensors(good, new Uint8Array(8), 5000), /header length 5000 exceeds the file size/],
      ["a header that is not JSON", () => Buffer.concat([craftSafetensors({}, new Uint8Array(0)).subarray(0, 8), Buffer.from("{x")]), /safetensors header is not valid JSON/],
      ["truncated tensor data", () => craftSafetensors(good, new Uint8Array(5)), /tensor "x" ends at data byte 8 but the file holds only 5 data bytes \(truncated\?\)/],
      ["an unknown dtype", () => craftSafetensors({ x: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)), /tensor "x": dtype "I64" is not supported \(restem reads F32, F16, BF16\)/],
      ["offsets that disagree with the shape", () => craftSafetensors({ x: { dtype: "F16", shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), /span 8 bytes, but F16 shape \[3\] needs 6/],
      ["reversed offsets", () => craftSafetensors({ x: { dtype: "F32", shape: [0], data_offsets: [8, 0] } }, new Uint8Array(8)), /data_offsets must be \[begin, end\]/],
      ["a gap between tensors", () => craftSafetensors({ x: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /tensor "x" starts at data byte 4, expected 0/],
      ["overlapping tensors", () => craftSafetensors({ x: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, y: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /starts at data byte 4, expected 8/],
      ["trailing bytes", () => craftSafetensors(good, new Uint8Array(12)), /tensors cover 8 data bytes but the file holds 12/],
      ["a bad shape", () => craftSafetensors({ x: { dtype: "F32", shape: [-1], data_offsets: [0, 0] } }, new Uint8Array(0)), /shape must be a list of non-negative integers/],
      ["non-string metadata", () => craftSafetensors({ __metadata__: { n: 1 } }, new Uint8Array(0)), /"__metadata__" must map names to strings/],
      ["a header that is an array", () => craftSafetensors([], new Uint8Array(0)), /header must be a JSON object/],
      ["a header that is not UTF-8", () => Buffer.concat([craftSafetensors({}, new Uint8Array(0)).subarray(0, 8), Buffer.from([0x7b, 0xff])]), /header is not valid UTF-8/],
    ];
    for (const [label, build, message] of cases) {
      it(`refuses ${label}, naming the file`, async () => {
        const file = path.join(dir, "bad.safetensors");
        await fs.writeFile(file, build());
        await assert.rejects(readSafetensors(file), (error: Error) => {
          assert.ok(error.message.startsWith(file), error.message);
          assert.match(error.message, message);
          return true;
        });
      });
    }
  });

  it("reports missing checkpoints and broken indexes", async () => {
    await assert.rejects(loadModelWeights(dir), /no model\.safetensors or model\.safetensors\.index\.json/);
    await fs.writeFile(path.join(dir, "pytorch_model.bin"), "");
    await assert.rejects(loadModelWeights(dir), /PyTorch \.bin checkpoints are not supported/);
    const index = path.join(dir, "model.safetensors.index.json");
    await fs.writeFile(index, JSON.stringify({ weight_map: { x: "../evil.safetensors" } }));
    await assert.rejects(loadModelWeights(dir), /"x" maps to "\.\.\/evil\.safetensors", which is not a file name/);
    await fs.writeFile(index, JSON.stringify({ weight_map: { x: "model-00001-of-00001.safetensors" } }));
    await assert.rejects(loadModelWeights(dir), /shard model-00001-of-00001\.safetensors is listed but missing/);
    await writeSafetensors(path.join(dir, "model-00001-of-00001.safetensors"), new Map([["y", { shape: [1], data: new Float32Array(1) }]]), "F32");
    await assert.rejects(loadModelWeights(dir), /1 tensor\(s\) listed in the index are not in this shard: x/);
  });

  it("saves a whole model directory that loads back (config, weights, tokenizer)", async () => {
    const weights = randomWeights(TINY_CONFIG, 4);
    const written = await saveModelDirectory(dir, TINY_CONFIG, weights, { dtype: "F32", tokenizerFrom: path.join(FIXTURES, "tiny-tokenizer") });
    assert.deepEqual(written.sort(), ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);
    assert.deepEqual(JSON.parse(await fs.readFile(path.join(dir, "config.json"), "utf8")), TINY_LLAMA);
    const config = await loadModelConfig(dir);
    assert.deepEqual({ ...config, raw: {} }, { ...TINY_CONFIG, raw: {} });
    const loaded = await loadModelWeights(dir);
    assert.deepEqual(loaded.get("lm_head.weight")?.data, weights.get("lm_head.weight")?.data);
    const tokenizer = await loadTokenizer(dir);
    assert.deepEqual(tokenizer.eosTokenIds, [509]);
    weights.delete("lm_head.weight");
    await assert.rejects(saveModelDirectory(dir, TINY_CONFIG, weights, { dtype: "F32" }), /1 missing tensor\(s\): lm_head\.weight/);
  });

  it("writes files an independent Python reader agrees with (skipped without python3 + safetensors or numpy)", async function () {
    const probe = spawnSync("python3", ["-c", "import numpy"], { encoding: "utf8" });
    if (probe.status !== 0) {
      this.skip();
    }
    const hasSafetensors = spawnSync("python3", ["-c", "import safetensors.numpy"]).status === 0;
    const weights = randomWeights(TINY_CONFIG, 21, 0.3);
    const sums: Record<string, Record<string, number>> = {};
    for (const dtype of ["F32", "F16", "BF16"] as StorageDType[]) {
      await saveModelWeights(path.join(dir, dtype), weights, { dtype, maxShardBytes: dtype === "F32" ? 50_000 : undefined });
      const loaded = await loadModelWeights(path.join(dir, dtype));
      sums[dtype] = Object.fromEntries([...loaded].map(([name, tensor]) => [name, tensor.data.reduce((sum, value) => sum + value, 0)]));
    }
    const result = spawnSync("python3", ["-c", PYTHON_READER, dir, hasSafetensors ? "safetensors" : "numpy"], { encoding: "utf8", timeout: 60_000 });
    assert.equal(result.status, 0, result.stderr);
    const fromPython = JSON.parse(result.stdout) as Record<string, Record<string, { shape: number[]; sum: number }>>;
    for (const dtype of ["F32", "F16", "BF16"]) {
      for (const [name, tensor] of weights) {
        const seen = fromPython[dtype][name];
        assert.deepEqual(seen.shape, tensor.shape, `${dtype} ${name}`);
        assert.ok(Math.abs(seen.sum - sums[dtype][name]) <= 1e-3 * Math.max(1, Math.abs(seen.sum)), `${dtype} ${name}: ${seen.sum} vs ${sums[dtype][name]}`);
      }
    }
  });
});

/** Reads every saved directory with safetensors.numpy, or a hand-written numpy parser. */
const PYTHON_READER = `
import json, os, struct, sys
import numpy as np
root, mode = sys.argv[1], sys.argv[2]
def read_numpy(file):
    with open(file, "rb") as handle:
        raw = handle.read()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    header.pop("__metadata__", None)
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        chunk = raw[8 + length + begin:8 + length + end]
        if info["dtype"] == "BF16":
            values = (np.frombuffer(chunk, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            values = np.frombuffer(chunk, dtype={"F32": "<f4", "F16": "<f2"}[info["dtype"]])
        out[name] = values.reshape(info["shape"])
    return out
def read(file, dtype):
    if mode == "safetensors" and dtype != "BF16":  # numpy has no bfloat16
        from safetensors.numpy import load_file
        return load_file(file)
    return read_numpy(file)
result = {}
for dtype in ("F32", "F16", "BF16"):
    folder = os.path.join(root, dtype)
    tensors = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".safetensors"):
            tensors.update(read(os.path.join(folder, name), dtype))
    result[dtype] = {k: {"shape": list(v.shape), "sum": float(v.astype(np.float64).sum())} for k, v in tensors.items()}
print(json.dumps(result))
`;
