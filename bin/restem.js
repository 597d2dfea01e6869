#!/usr/bin/env node
// The `restem` command: runs the compiled CLI (built by `npm ci` through the prepare script).
require("../out/src/cli.js").main(process.argv).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`restem: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
