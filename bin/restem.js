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
require("../out/src/cli.js").main(process.argv).then(
  (code) => {
    settled = true;
    process.exit(code);
  },
  (err) => {
    settled = true;
    console.error(`restem: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
