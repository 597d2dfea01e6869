// Everything a run needs on this machine, checked in one place for `restem check-env` and the
// VS Code command "ReST-EM: Check Environment": the Docker engine and the sandbox image
// (src/sandbox/environment.ts), the model directory, whether sampling can use a GPU (an NVIDIA
// driver, and ONNX Runtime's CUDA provider), and which TensorFlow.js backend training gets.
// Each check is ok/problem plus one sentence a user can act on; nothing throws.

import { execFile } from "node:child_process";
import { checkEnvironment, type Check, type EnvironmentReport } from "../sandbox/environment";
import { cudaAvailability } from "../sampler/session";
import { describeBackend, initBackend } from "../trainer/backend";

/** The GPUs nvidia-smi lists, or why there are none. */
function nvidiaGpus(): Promise<{ gpus: string[]; reason: string | null }> {
  return new Promise((resolve) => {
    execFile("nvidia-smi", ["--query-gpu=name,memory.total", "--format=csv,noheader"], { timeout: 10_000 }, (error, stdout) => {
      if (error) {
        const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
        resolve({ gpus: [], reason: missing ? "no NVIDIA driver (nvidia-smi not found)" : `nvidia-smi failed: ${error.message.split("\n")[0]}` });
        return;
      }
      const gpus = stdout.split("\n").map((l) => l.trim()).filter((l) => l.length > 0);
      resolve({ gpus, reason: gpus.length === 0 ? "nvidia-smi lists no GPU" : null });
    });
  });
}

/** GPU for sampling: ok when a GPU is there and ONNX Runtime can use CUDA; else sampling runs on CPU. */
export async function checkGpu(): Promise<Check> {
  const { gpus, reason } = await nvidiaGpus();
  const cuda = cudaAvailability();
  if (gpus.length === 0) return { name: "gpu", ok: false, optional: true, detail: `${reason}: sampling runs on the CPU (fine for small models)` };
  if (!cuda.available) return { name: "gpu", ok: false, optional: true, detail: `${gpus.join("; ")} found, but ${cuda.reason}: sampling runs on the CPU` };
  return { name: "gpu", ok: true, detail: `${gpus.join("; ")}: sampling uses ONNX Runtime's CUDA provider (sampling.device "auto")` };
}

/** The TensorFlow.js backend the trainer gets here; wasm is fine, tensorflow (native) is faster. */
export async function checkTrainerBackend(): Promise<Check> {
  try {
    const report = await initBackend();
    const native = report.name === "tensorflow";
    const hint = native ? "" : "; `npm install @tensorflow/tfjs-node` (or -gpu with CUDA) where libtensorflow can be downloaded trains faster";
    return { name: "tfjs backend", ok: report.name !== "cpu", detail: `${describeBackend(report)}${hint}` };
  } catch (error) {
    return { name: "tfjs backend", ok: false, detail: `no TensorFlow.js backend could start: ${(error as Error).message}` };
  }
}

/** Docker, sandbox image, model, GPU and trainer backend. `ok` needs only what a run cannot do without. */
export async function checkRunEnvironment(options: { modelDir?: string } = {}): Promise<EnvironmentReport> {
  const [base, gpu, backend] = await Promise.all([checkEnvironment(options), checkGpu(), checkTrainerBackend()]);
  return { checks: [...base.checks, gpu, backend], ok: base.ok && backend.ok };
}
