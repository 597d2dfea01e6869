// Who owns a sandbox container, and removing the containers whose owner is gone.
//
// Every judge container carries labels naming its owner: the restem process's pid and that
// process's start time (so a recycled pid is never mistaken for the owner), the host it ran
// on, the image and the container's purpose. A container outlives its owner only when the
// owner died without cleaning up (kill -9, a crashed extension host, Docker lost for a while);
// reapOrphans() removes those, and never a container whose owner still runs. Every command
// that opens the sandbox calls it, the extension calls it when it starts, and
// `restem sandbox prune` calls it on demand.

import type Docker from "dockerode";
import { connectDocker } from "./docker";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";

/** Label every restem sandbox container has (older restem versions set only this one). */
export const SANDBOX_LABEL = "restem.sandbox";
export const OWNER_PID_LABEL = "restem.owner.pid";
export const OWNER_START_LABEL = "restem.owner.start";
export const OWNER_HOST_LABEL = "restem.owner.host";
export const IMAGE_LABEL = "restem.image";
export const PURPOSE_LABEL = "restem.purpose";

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat); null when it does not exist. */
export function processStartTime(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[19] ?? null;
}

/** Whether a process with this pid exists (EPERM means it does, but is someone else's). */
function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The labels of a container owned by this process. */
export function ownerLabels(image: string, purpose: string): Record<string, string> {
  return {
    [SANDBOX_LABEL]: "1",
    [OWNER_PID_LABEL]: String(process.pid),
    [OWNER_START_LABEL]: processStartTime(process.pid) ?? "",
    [OWNER_HOST_LABEL]: hostname(),
    [IMAGE_LABEL]: image,
    [PURPOSE_LABEL]: purpose,
  };
}

export type OwnerState = "alive" | "dead" | "unknown";

/**
 * Whether the owner of a container with these labels (and name) still runs on this host.
 * "unknown" (another host's container) is treated like "alive": never removed.
 */
export function ownerState(labels: Record<string, string>, name: string): OwnerState {
  const host = labels[OWNER_HOST_LABEL];
  if (host !== undefined && host !== hostname()) return "unknown";
  const pidText = labels[OWNER_PID_LABEL] ?? /restem-judge-(\d+)-/.exec(name)?.[1];
  if (pidText === undefined) return "unknown";
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return "unknown";
  const recorded = labels[OWNER_START_LABEL];
  if (recorded) {
    const current = processStartTime(pid);
    if (current !== null) return current === recorded ? "alive" : "dead";
    // No /proc here: fall back to whether the pid exists.
  }
  return pidExists(pid) ? "alive" : "dead";
}

export interface SandboxContainerInfo {
  id: string;
  name: string;
  state: string;
  owner: OwnerState;
  ownerPid: number | null;
  labels: Record<string, string>;
}

/** Every restem sandbox container Docker knows, running or not, with its owner's state. */
export async function listSandboxContainers(docker: Docker): Promise<SandboxContainerInfo[]> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`${SANDBOX_LABEL}=1`] } });
  return containers.map((c) => {
    const name = (c.Names[0] ?? c.Id).replace(/^\//, "");
    const labels = c.Labels ?? {};
    const pid = Number(labels[OWNER_PID_LABEL] ?? /restem-judge-(\d+)-/.exec(name)?.[1] ?? NaN);
    return { id: c.Id, name, state: c.State, owner: ownerState(labels, name), ownerPid: Number.isInteger(pid) ? pid : null, labels };
  });
}

export interface ReapResult {
  /** Names of the containers removed. */
  removed: string[];
  /** Containers left because their owner still runs (or is on another host). */
  kept: number;
  /** Containers that could not be removed, with the reason. */
  failed: { name: string; reason: string }[];
}

/** Removes the sandbox containers whose owner process no longer exists. */
export async function reapOrphans(docker: Docker): Promise<ReapResult> {
  const result: ReapResult = { removed: [], kept: 0, failed: [] };
  for (const container of await listSandboxContainers(docker)) {
    if (container.owner !== "dead") {
      result.kept++;
      continue;
    }
    try {
      await docker.getContainer(container.id).remove({ force: true });
      result.removed.push(container.name);
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      // 404: gone already (auto-removed); 409: removal already in progress.
      if (status === 404 || status === 409) result.removed.push(container.name);
      else result.failed.push({ name: container.name, reason: error instanceof Error ? error.message : String(error) });
    }
  }
  return result;
}

/** One line saying what a reap did, for logs and `restem sandbox prune`. */
export function describeReap(result: ReapResult): string {
  const removed = `removed ${result.removed.length} sandbox container${result.removed.length === 1 ? "" : "s"} of restem processes that no longer run`;
  const kept = result.kept > 0 ? `; left ${result.kept} of running restem processes alone` : "";
  const failed = result.failed.length > 0 ? `; could not remove ${result.failed.map((f) => `${f.name} (${f.reason})`).join(", ")}` : "";
  return removed + kept + failed;
}

/**
 * At start-up (the extension's activation): reap if Docker answers, say so when something was
 * removed, and never fail — no Docker simply means nothing to reap.
 */
export async function reapAtStartup(log: (line: string) => void): Promise<void> {
  try {
    const result = await reapOrphans(await connectDocker({ timeoutMs: 5_000 }));
    if (result.removed.length > 0 || result.failed.length > 0) log(describeReap(result));
  } catch {
    // Docker is not there: the sandbox commands say so when they are used.
  }
}
