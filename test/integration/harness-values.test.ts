// Python-level checks of the judge harness's value trees (sandbox/harness/wire.py) and of
// how a comparison that gave an array is read (apps_compare.py), run by the sandbox
// image's own python3 and numpy: numpy scalars and arrays (object arrays too) survive the
// trip from runner to server with their type, dtype and shape; values restem does not
// rebuild stay opaque; hostile trees are refused with BadValue instead of crashing the
// server or making it allocate without bound. The script is test/integration/harness_values.py.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import type Docker from "dockerode";
import { connectDocker, DockerUnavailableError } from "../../src/sandbox/docker";
import { ensureImage, findRepoRoot } from "../../src/sandbox/image";

const root = findRepoRoot(__dirname);
const SCRIPT = path.join(root, "test/integration/harness_values.py");

/** Docker's multiplexed log stream (8-byte frame headers) as one text. */
function logText(buffer: Buffer): string {
  const parts: Buffer[] = [];
  for (let offset = 0; offset + 8 <= buffer.length; ) {
    const size = buffer.readUInt32BE(offset + 4);
    parts.push(buffer.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(parts).toString("utf8");
}

describe("sandbox harness: value trees and array comparisons (Python, in the sandbox image)", function () {
  this.timeout(20 * 60 * 1000);
  let docker: Docker;
  let tag: string;

  before(async function () {
    try {
      docker = await connectDocker();
    } catch (error) {
      if (error instanceof DockerUnavailableError && process.env.RESTEM_SKIP_DOCKER === "1") {
        console.log(`      skipped: Docker unavailable (${error.message})`);
        this.skip();
      }
      throw error;
    }
    tag = await ensureImage(docker, { root });
  });

  it("round-trips numpy and Python values exactly, keeps the rest opaque and refuses hostile trees", async () => {
    // No name: Docker picks a unique one, so concurrent runs never clash.
    const container = await docker.createContainer({
      Image: tag,
      Cmd: ["python3", "-c", readFileSync(SCRIPT, "utf8")],
      HostConfig: { NetworkMode: "none" },
      Labels: { "restem.test": "harness-values" },
    });
    try {
      await container.start();
      const { StatusCode } = (await container.wait()) as { StatusCode: number };
      const output = logText((await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer);
      assert.equal(StatusCode, 0, output);
      assert.match(output.trim(), /^ok \d+$/);
    } finally {
      await container.remove({ force: true });
    }
  });
});
