// `npm run package`: builds the extension and packages it with @vscode/vsce as a
// platform-specific VSIX, restem-<version>-<target>.vsix in the repository root.
//
//   node scripts/package.mjs [--target linux-x64|linux-arm64|darwin-arm64|win32-x64|win32-arm64]
//                            [--no-build] [--out <file.vsix>]
//
// The bundles (dist/, see scripts/bundle.mjs) hold all JavaScript except the native modules, so
// the VSIX's node_modules has only those, and only the target's binaries: onnxruntime-node ships
// every platform's ONNX Runtime (about 290 MB), tokenizers every platform's binding. The file
// list is .vscodeignore plus, in a generated copy passed with --ignoreFile, the target's native
// files. Afterwards the VSIX's central directory is read back to check that what the extension
// loads at run time is inside and no other platform's binary is. The last stdout line is the
// VSIX path.
import { Buffer } from "node:buffer";
import { spawnSync } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, readSync, closeSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

/** Per VSIX target: ONNX Runtime's binary folder (bin/napi-v6/<platform>/<arch>) and tokenizers' binding file. */
const TARGETS = {
  "linux-x64": { ort: "linux/x64", tokenizers: "tokenizers.linux-x64-gnu.node" },
  "linux-arm64": { ort: "linux/arm64", tokenizers: "tokenizers.linux-arm64-gnu.node" },
  "darwin-arm64": { ort: "darwin/arm64", tokenizers: "tokenizers.darwin-arm64.node" },
  "win32-x64": { ort: "win32/x64", tokenizers: "tokenizers.win32-x64-msvc.node" },
  "win32-arm64": { ort: "win32/arm64", tokenizers: "tokenizers.win32-arm64-msvc.node" },
};

function fail(message) {
  console.error(`package: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const options = { target: null, build: true, out: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--no-build") options.build = false;
    else if (arg === "--target" || arg === "--out") {
      const value = argv[++i];
      if (!value) fail(`${arg} needs a value`);
      options[arg.slice(2)] = value;
    } else fail(`unknown argument ${arg} (expected --target T, --out FILE, --no-build)`);
  }
  return options;
}

/** The VSIX target of this machine; alpine (musl) and other platforms without ONNX Runtime binaries are refused. */
function hostTarget() {
  let platform = process.platform;
  if (platform === "linux") {
    const header = process.report?.getReport()?.header;
    if (header && header.glibcVersionRuntime === undefined) platform = "alpine";
  }
  return `${platform}-${process.arch}`;
}

function run(command, args) {
  console.log(`$ ${command} ${args.join(" ")}`);
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit" });
  if (result.error) fail(`${command}: ${result.error.message}`);
  if (result.status !== 0) fail(`${command} ${args[0]} exited with ${result.status ?? result.signal}`);
}

/** .vscodeignore plus the lines that let the target's native files in. */
function ignoreFileFor(target) {
  const { ort, tokenizers } = TARGETS[target];
  const base = readFileSync(join(root, ".vscodeignore"), "utf8").trimEnd();
  const natives = [
    `# native modules for ${target} (scripts/package.mjs)`,
    "!node_modules/onnxruntime-node/package.json",
    "!node_modules/onnxruntime-node/dist/*.js",
    `!node_modules/onnxruntime-node/bin/napi-v6/${ort}/*`,
    "!node_modules/onnxruntime-common/package.json",
    "!node_modules/onnxruntime-common/dist/cjs/package.json",
    "!node_modules/onnxruntime-common/dist/cjs/**/*.js",
    "!node_modules/tokenizers/package.json",
    "!node_modules/tokenizers/index.js",
    "!node_modules/tokenizers/LICENSE",
    `!node_modules/tokenizers/${tokenizers}`,
  ];
  return `${base}\n${natives.join("\n")}\n`;
}

/** The entries of a zip file (name and uncompressed size), read from its central directory. */
function zipEntries(file) {
  const fd = openSync(file, "r");
  try {
    const size = statSync(file).size;
    // The end-of-central-directory record is 22 bytes plus a comment of at most 64 KiB.
    const tailLength = Math.min(size, 22 + 0xffff);
    const tail = Buffer.alloc(tailLength);
    readSync(fd, tail, 0, tailLength, size - tailLength);
    let eocd = -1;
    for (let i = tailLength - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new Error(`${file} is not a zip file (no end of central directory)`);
    const count = tail.readUInt16LE(eocd + 10);
    const directorySize = tail.readUInt32LE(eocd + 12);
    const directoryOffset = tail.readUInt32LE(eocd + 16);
    const directory = Buffer.alloc(directorySize);
    readSync(fd, directory, 0, directorySize, directoryOffset);
    const entries = [];
    let at = 0;
    for (let n = 0; n < count; n++) {
      if (directory.readUInt32LE(at) !== 0x02014b50) throw new Error(`${file}: bad central directory entry ${n}`);
      const uncompressed = directory.readUInt32LE(at + 24);
      const nameLength = directory.readUInt16LE(at + 28);
      const extraLength = directory.readUInt16LE(at + 30);
      const commentLength = directory.readUInt16LE(at + 32);
      entries.push({ name: directory.toString("utf8", at + 46, at + 46 + nameLength), size: uncompressed });
      at += 46 + nameLength + extraLength + commentLength;
    }
    return entries;
  } finally {
    closeSync(fd);
  }
}

/** Fails unless the VSIX holds what the extension loads and no other target's native binaries. */
function checkContents(vsix, target) {
  const entries = zipEntries(vsix);
  const names = new Set(entries.map((e) => e.name));
  const { ort, tokenizers } = TARGETS[target];
  const required = [
    "extension/package.json",
    "extension/dist/extension.js",
    "extension/dist/worker.js",
    "extension/dist/runWorker.js",
    "extension/dist/wasm/tfjs-backend-wasm.wasm",
    "extension/dist/wasm/tfjs-backend-wasm-simd.wasm",
    "extension/sandbox/Dockerfile",
    "extension/node_modules/onnxruntime-node/dist/index.js",
    `extension/node_modules/onnxruntime-node/bin/napi-v6/${ort}/onnxruntime_binding.node`,
    "extension/node_modules/onnxruntime-common/dist/cjs/index.js",
    "extension/node_modules/tokenizers/index.js",
    `extension/node_modules/tokenizers/${tokenizers}`,
  ];
  const missing = required.filter((name) => !names.has(name));
  if (missing.length > 0) fail(`${vsix} lacks ${missing.join(", ")}`);
  const foreign = entries
    .map((e) => e.name)
    .filter((name) => {
      const ortBinary = /^extension\/node_modules\/onnxruntime-node\/bin\/napi-v6\/([^/]+\/[^/]+)\//.exec(name);
      if (ortBinary && ortBinary[1] !== ort) return true;
      return /^extension\/node_modules\/tokenizers\/.*\.node$/.test(name) && name !== `extension/node_modules/tokenizers/${tokenizers}`;
    });
  if (foreign.length > 0) fail(`${vsix} holds other platforms' binaries: ${foreign.slice(0, 5).join(", ")}`);
  const modules = new Set(entries.map((e) => /^extension\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(e.name)?.[1]).filter(Boolean));
  return { count: entries.length, unpacked: entries.reduce((sum, e) => sum + e.size, 0), modules: [...modules].sort() };
}

function mebibytes(bytes) {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

const options = parseArgs(process.argv.slice(2));
const target = options.target ?? hostTarget();
if (!(target in TARGETS)) {
  fail(`no VSIX for ${target}: onnxruntime-node and tokenizers ship binaries for ${Object.keys(TARGETS).join(", ")}`);
}
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const out = resolve(root, options.out ?? `${manifest.name}-${manifest.version}-${target}.vsix`);

if (options.build) run("npm", ["run", "build"]);
for (const file of ["dist/extension.js", "dist/worker.js", "dist/runWorker.js", "dist/wasm/tfjs-backend-wasm.wasm"]) {
  try {
    statSync(join(root, file));
  } catch {
    fail(`${file} is missing; run npm run build (or drop --no-build)`);
  }
}

const vscePackage = dirname(require.resolve("@vscode/vsce/package.json"));
const vsceBin = join(vscePackage, JSON.parse(readFileSync(join(vscePackage, "package.json"), "utf8")).bin.vsce);
const scratch = mkdtempSync(join(tmpdir(), "restem-package-"));
try {
  const ignoreFile = join(scratch, "vscodeignore");
  writeFileSync(ignoreFile, ignoreFileFor(target));
  run(process.execPath, [
    vsceBin,
    "package",
    "--target",
    target,
    "--out",
    out,
    "--ignoreFile",
    ignoreFile,
    // README links to docs/ in the repository, which has no published URL yet.
    "--no-rewrite-relative-links",
    "--allow-missing-repository",
  ]);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

const contents = checkContents(out, target);
console.log(
  `VSIX ${out}: ${mebibytes(statSync(out).size)} (${contents.count} files, ${mebibytes(contents.unpacked)} unpacked; ` +
    `node_modules: ${contents.modules.join(", ")})`,
);
console.log(out);
