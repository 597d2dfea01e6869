#!/usr/bin/env bash
# One-go check of restem on a machine with an NVIDIA GPU: installs the GPU packages, then
#   1. ONNX Runtime parity: `restem forward --engine onnx --device cuda` against --device cpu;
#   2. TensorFlow.js parity: `restem forward --engine tfjs` on @tensorflow/tfjs-node-gpu against
#      ONNX Runtime on the CPU (the wasm backend cannot hold a 0.5B model in its 4 GiB heap);
#   3. one LoRA step (`restem train --lora-rank 8`, one example, one step), timed.
# Usage: scripts/gpu-check.sh [model-dir]   (default: a random-weight Qwen2.5-Coder-0.5B shape,
#        written by scripts/make-random-model.mjs into $RESTEM_GPU_CHECK_DIR or /tmp/restem-gpu-check)
# Needs: Node >= 20, an NVIDIA driver with CUDA 12 (nvidia-smi), network access to npm and to the
# libtensorflow / ONNX Runtime CUDA downloads that the packages' install scripts make.
# Exit status: 0 all passed; 1 a check failed; 2 no usable GPU (nothing was run).
set -euo pipefail

cd "$(dirname "$0")/.."
WORK="${RESTEM_GPU_CHECK_DIR:-/tmp/restem-gpu-check}"
TOLERANCE="${RESTEM_GPU_CHECK_TOLERANCE:-1e-3}"
mkdir -p "$WORK"
say() { printf '[gpu-check] %s\n' "$*" >&2; }

# 0. Is there a GPU at all?
if ! command -v nvidia-smi >/dev/null 2>&1; then
  say "no NVIDIA GPU here: nvidia-smi is not installed. Run this on a machine with an NVIDIA GPU and its driver (CUDA 12). Nothing was run."
  exit 2
fi
if ! nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >"$WORK/gpus.txt" 2>"$WORK/nvidia-smi.err"; then
  say "nvidia-smi failed ($(head -c 300 "$WORK/nvidia-smi.err")): no usable GPU. Nothing was run."
  exit 2
fi
say "GPU(s): $(tr '\n' ';' <"$WORK/gpus.txt")"

# 1. Build and install the GPU packages (not saved to package.json: they are optional).
[ -f out/src/cli.js ] || npm run build
if ! node -e 'require.resolve("@tensorflow/tfjs-node-gpu")' 2>/dev/null; then
  say "installing @tensorflow/tfjs-node-gpu (downloads libtensorflow with CUDA)"
  npm install --no-save @tensorflow/tfjs-node-gpu
fi
say "installing ONNX Runtime's CUDA 12 execution provider (ONNXRUNTIME_NODE_INSTALL=cuda12)"
(cd node_modules/onnxruntime-node && ONNXRUNTIME_NODE_INSTALL=cuda12 node script/install.js)

# 2. The model.
MODEL="${1:-}"
if [ -z "$MODEL" ]; then
  MODEL="$WORK/qwen2.5-coder-0.5b"
  [ -f "$MODEL/config.json" ] || node scripts/make-random-model.mjs qwen2.5-coder-0.5b "$MODEL"
fi
say "model: $MODEL"
restem() { node bin/restem.js "$@"; }
IDS="1,2,3,4,5,6,7,8"
FAILED=0
timed() { # timed <label> <command...>: runs it, prints its wall time, returns its status
  local label="$1" start end rc=0
  shift
  start=$(date +%s.%N)
  "$@" || rc=$?
  end=$(date +%s.%N)
  say "$label: $(node -e "console.log((${end} - ${start}).toFixed(2))") s (exit $rc)"
  return "$rc"
}
compare() { # compare <label> <a.json> <b.json>: max |a - b| of two logit arrays, within TOLERANCE
  node -e '
    const fs = require("fs");
    const [label, fa, fb, tol] = process.argv.slice(1);
    const a = JSON.parse(fs.readFileSync(fa, "utf8")), b = JSON.parse(fs.readFileSync(fb, "utf8"));
    if (a.length !== b.length) { console.error(`[gpu-check] ${label}: ${a.length} vs ${b.length} logits`); process.exit(1); }
    let max = 0, zeros = 0, finite = true;
    for (let i = 0; i < a.length; i++) { max = Math.max(max, Math.abs(a[i] - b[i])); if (b[i] === 0) zeros++; if (!Number.isFinite(b[i])) finite = false; }
    const ok = finite && max <= Number(tol) && zeros < b.length / 2;
    console.error(`[gpu-check] ${label}: max |diff| ${max.toExponential(2)} over ${a.length} logits (tolerance ${tol}), ${zeros} zeros: ${ok ? "PASS" : "FAIL"}`);
    process.exit(ok ? 0 : 1);
  ' "$1" "$2" "$3" "$TOLERANCE"
}

# 3. ONNX Runtime: CUDA against CPU (separate caches: the export is the same, the sessions differ).
timed "onnx cpu forward (incl. export)" restem forward --engine onnx --device cpu --model "$MODEL" --onnx-cache "$WORK/onnx" --ids "$IDS" >"$WORK/onnx-cpu.json"
if timed "onnx cuda forward" restem forward --engine onnx --device cuda --model "$MODEL" --onnx-cache "$WORK/onnx" --ids "$IDS" >"$WORK/onnx-cuda.json"; then
  compare "onnx cuda vs cpu" "$WORK/onnx-cpu.json" "$WORK/onnx-cuda.json" || FAILED=1
else
  say "onnx cuda forward FAILED (see the error above)"
  FAILED=1
fi

# 4. TensorFlow.js on tfjs-node-gpu against ONNX Runtime on the CPU.
if timed "tfjs forward (tfjs-node-gpu)" restem forward --engine tfjs --model "$MODEL" --ids "$IDS" >"$WORK/tfjs.json" 2>"$WORK/tfjs.err"; then
  compare "tfjs-node-gpu vs onnx cpu" "$WORK/onnx-cpu.json" "$WORK/tfjs.json" || FAILED=1
else
  say "tfjs forward FAILED: $(cat "$WORK/tfjs.err")"
  FAILED=1
fi

# 5. One LoRA step, timed; the backend line must name tfjs-node-gpu.
printf '%s\n' '{"prompt": "def add(a, b):\n", "completion": "    return a + b\n", "reward": 1}' >"$WORK/data.jsonl"
if timed "one LoRA step (rank 8, batch 1)" restem train --model "$MODEL" --data "$WORK/data.jsonl" --out "$WORK/trained" \
  --lora-rank 8 --epochs 1 --batch 1 --max-seq-len 64 --workers 1 2>"$WORK/train.err" >/dev/null; then
  cat "$WORK/train.err" >&2
  grep -q "backend tensorflow via @tensorflow/tfjs-node-gpu" "$WORK/train.err" || { say "training did not run on tfjs-node-gpu"; FAILED=1; }
else
  say "LoRA step FAILED: $(cat "$WORK/train.err")"
  FAILED=1
fi

if [ "$FAILED" -eq 0 ]; then say "all GPU checks passed"; else say "some GPU checks FAILED"; fi
exit "$FAILED"
