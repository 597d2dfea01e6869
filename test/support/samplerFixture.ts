// Test-only helpers for the sampler tests: export a tiny random model to a temporary ONNX
// directory and open it, a character-level fake tokenizer (TokenizerLike), and a DecoderRunner
// wrapper that records every forward call (batch, seq, past length) so tests can check the
// shared prefill and the dropping of finished rows.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ModelConfig, WeightMap } from "../../src/model/types";
import type { TokenizerLike } from "../../src/sampler/generation";
import { writeOnnxModel, type OnnxModelFiles } from "../../src/sampler/onnxExport";
import { type DecoderInputs, type DecoderOutputs, type DecoderRunner, OnnxDecoderSession, wholeSequenceInputs } from "../../src/sampler/session";

/** A fresh temporary directory removed by the returned cleanup. */
export function tempDir(prefix = "restem-sampler-"): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export interface OpenedModel {
  files: OnnxModelFiles;
  session: OnnxDecoderSession;
  close: () => Promise<void>;
}

/** Exports `weights` for `config` under `dir` and opens a single-threaded CPU session on it. */
export async function exportAndOpen(dir: string, config: ModelConfig, weights: WeightMap): Promise<OpenedModel> {
  const files = writeOnnxModel(dir, config, weights);
  const session = await OnnxDecoderSession.create(files.modelPath, config, { threads: 1 });
  return { files, session, close: () => session.release() };
}

/** Logits [seq, vocab] of one unpadded sequence, whole sequence at once (no past). */
export async function fullLogits(runner: DecoderRunner, ids: number[]): Promise<Float32Array> {
  const out = await runner.forward(wholeSequenceInputs(ids));
  return out.logits;
}

/** Each token id is one printable character: id 0 -> "a", ..., wrapping over 60 symbols. */
export class CharTokenizer implements TokenizerLike {
  static readonly ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \n.,;:()[]{}=+-*/";
  decodeCalls = 0;

  constructor(readonly eosTokenIds: number[] = []) {}

  decode(ids: number[]): string {
    this.decodeCalls++;
    return ids.map((id) => CharTokenizer.ALPHABET[id % CharTokenizer.ALPHABET.length]).join("");
  }
}

export interface RecordedCall {
  batch: number;
  seq: number;
  past: number;
}

/** Passes calls through to `inner` and records their shapes. */
export class RecordingRunner implements DecoderRunner {
  readonly calls: RecordedCall[] = [];

  constructor(private readonly inner: DecoderRunner) {}

  get dims(): DecoderRunner["dims"] {
    return this.inner.dims;
  }

  forward(inputs: DecoderInputs): Promise<DecoderOutputs> {
    this.calls.push({ batch: inputs.batch, seq: inputs.seq, past: inputs.past?.length ?? 0 });
    return this.inner.forward(inputs);
  }
}
