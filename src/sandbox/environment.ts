// "Check Environment": what restem needs on this machine and whether it is there.
//
// Used by `restem check-env` and by the VS Code command restem.checkEnvironment.
// Each check yields ok/problem plus one sentence a user can act on; nothing throws.

import { access, readdir } from "node:fs/promises";
import path from "node:path";
import { connectDocker, dockerVersion } from "./docker";
import { imageStatus } from "./image";

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** True for checks a run can do without (a GPU): shown as a note, not a problem. */
  optional?: boolean;
}

export interface EnvironmentReport {
  checks: Check[];
  ok: boolean;
}

async function checkDocker(): Promise<{ docker: Check; image: Check }> {
  try {
    const docker = await connectDocker();
    const version = await dockerVersion(docker);
    const dockerCheck: Check = { name: "docker", ok: true, detail: `Docker engine ${version.version} (API ${version.apiVersion})` };
    try {
      const status = await imageStatus(docker);
      const image: Check = status.present
        ? { name: "sandbox image", ok: true, detail: `${status.tag} is built` }
        : { name: "sandbox image", ok: false, detail: `${status.tag} is not built yet: run \`restem image build\` (or the first judge run builds it)` };
      return { docker: dockerCheck, image };
    } catch (error) {
      return { docker: dockerCheck, image: { name: "sandbox image", ok: false, detail: (error as Error).message } };
    }
  } catch (error) {
    return {
      docker: { name: "docker", ok: false, detail: (error as Error).message },
      image: { name: "sandbox image", ok: false, detail: "cannot be checked without Docker" },
    };
  }
}

/** A Hugging Face model directory needs config.json, tokenizer.json and safetensors weights. */
export async function checkModelDirectory(directory: string | undefined): Promise<Check> {
  if (!directory) return { name: "model", ok: false, detail: "no model directory given (pass --model <dir>)" };
  let files: string[];
  try {
    files = await readdir(directory);
  } catch {
    return { name: "model", ok: false, detail: `model directory ${directory} does not exist or cannot be read` };
  }
  const missing = ["config.json", "tokenizer.json"].filter((f) => !files.includes(f));
  if (!files.some((f) => f.endsWith(".safetensors"))) missing.push("*.safetensors");
  if (missing.length) return { name: "model", ok: false, detail: `${directory} lacks ${missing.join(", ")}` };
  try {
    await access(path.join(directory, "config.json"));
  } catch {
    return { name: "model", ok: false, detail: `${directory}/config.json cannot be read` };
  }
  return { name: "model", ok: true, detail: `${directory} has config.json, tokenizer.json and safetensors weights` };
}

export async function checkEnvironment(options: { modelDir?: string } = {}): Promise<EnvironmentReport> {
  const [{ docker, image }, model] = await Promise.all([checkDocker(), checkModelDirectory(options.modelDir)]);
  const checks = [docker, image, model];
  return { checks, ok: docker.ok && image.ok };
}

export function formatEnvironment(report: EnvironmentReport): string {
  return report.checks.map((c) => `${c.ok ? "ok " : c.optional ? "-- " : "!! "} ${c.name.padEnd(14)} ${c.detail}`).join("\n");
}
