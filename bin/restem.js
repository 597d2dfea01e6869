#!/usr/bin/env node
// The `restem` command: runs the compiled CLI (built by `npm ci` through the prepare script).
let settled = false;
// Node exits with status 0 when nothing is left to wait for, even if main() never finished
// (a request whose connection vanished without an error): that must never look like success.
process.on("beforeExit", () => {
  if (settled) return;
  console.error("restem: stopped with its work unfinished (a request to Docker or another service never answered); nothing reported success");
  process.exit(70);
});
// process.exit() does not wait for a pipe to take what was written (a 3 MB `restem forward`
// read through a pipe came out cut at ~200 kB): exit once both streams have flushed.
function exitAfterFlush(code) {
  process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
}
require("../out/src/cli.js").main(process.argv).then(
  (code) => {
    settled = true;
    exitAfterFlush(code);
  },
  (err) => {
    settled = true;
    console.error(`restem: ${err instanceof Error ? err.message : String(err)}`);
    exitAfterFlush(1);
  },
);
