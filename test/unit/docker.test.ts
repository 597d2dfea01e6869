// Unit tests of the messages a failed Docker connection produces: each cause must
// come out as one message naming the fix (install, start, group, DOCKER_HOST).

import * as assert from "node:assert/strict";
import { DockerUnavailableError, explainDockerFailure } from "../../src/sandbox/docker";

describe("sandbox docker: explainDockerFailure", function () {
  it("tells how to install Docker when it is missing", function () {
    const message = explainDockerFailure({ code: "ENOENT", detail: "connect ENOENT", installed: false });
    assert.match(message, /not installed/);
    assert.match(message, /apt-get install docker\.io/);
    assert.match(message, /dockerd --bridge=none/);
  });

  it("tells how to start the daemon when Docker is installed but stopped", function () {
    for (const code of ["ENOENT", "ECONNREFUSED"]) {
      const message = explainDockerFailure({ code, detail: code, installed: true });
      assert.match(message, /daemon is not running/);
      assert.match(message, /sudo dockerd --bridge=none/);
      assert.doesNotMatch(message, /apt-get/);
    }
  });

  it("tells how to join the docker group on a permission error", function () {
    const message = explainDockerFailure({ code: "EACCES", detail: "connect EACCES", installed: true });
    assert.match(message, /Permission denied on the Docker socket \/var\/run\/docker\.sock/);
    assert.match(message, /usermod -aG docker/);
  });

  it("points at DOCKER_HOST when it names a remote or unusual daemon", function () {
    const remote = explainDockerFailure({
      code: "ECONNREFUSED",
      detail: "connect ECONNREFUSED",
      dockerHost: "tcp://10.0.0.1:2375",
      installed: true,
    });
    assert.match(remote, /DOCKER_HOST=tcp:\/\/10\.0\.0\.1:2375/);
    assert.match(remote, /unset it/);
    const socket = explainDockerFailure({
      code: "ENOENT",
      detail: "connect ENOENT",
      dockerHost: "unix:///tmp/other.sock",
      installed: true,
    });
    assert.match(socket, /\/tmp\/other\.sock/);
    assert.match(socket, /fix DOCKER_HOST=unix:\/\/\/tmp\/other\.sock or unset it/);
  });

  it("carries no stack trace beyond its message", function () {
    const err = new DockerUnavailableError("start Docker", "ENOENT");
    assert.equal(err.stack, "DockerUnavailableError: start Docker");
    assert.equal(err.reason, "ENOENT");
  });
});
