#!/usr/bin/env node
// ChainABS: a native-solc-compatible command line over the npm `solc` package (solcjs, WebAssembly).
//
// py-solc-x and brownie only drive binaries named `solc-v<version>` and use a small subset of the native
// CLI. This program gives exactly that subset, so that compiling never needs a download:
//   --version                      prints "Version: <full version>" like the native binary
//   --standard-json                reads Standard JSON from stdin, writes ONLY the output JSON to stdout
//   --base-path P, --include-path P (repeatable), --allow-paths P1,P2,...
// Imports the compiler asks for are resolved against the base path, the include paths and the current
// directory, and are only read when they lie under one of the allowed roots.
"use strict";

const fs = require("fs");
const path = require("path");

function usage(message) {
  process.stderr.write(`solc-native: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { version: false, standardJson: false, basePath: null, includePaths: [], allowPaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const takeValue = () => {
      if (arg.includes("=")) return arg.slice(arg.indexOf("=") + 1);
      if (i + 1 >= argv.length) usage(`option ${arg} needs a value`);
      return argv[++i];
    };
    const name = arg.split("=")[0];
    switch (name) {
      case "--version":
        opts.version = true;
        break;
      case "--standard-json":
        opts.standardJson = true;
        break;
      case "--base-path":
        opts.basePath = takeValue();
        break;
      case "--include-path":
        opts.includePaths.push(takeValue());
        break;
      case "--allow-paths":
        opts.allowPaths.push(...takeValue().split(",").filter(Boolean));
        break;
      default:
        usage(`unsupported option ${arg} (this wrapper handles --version, --standard-json, ` +
          `--base-path, --include-path and --allow-paths)`);
    }
  }
  return opts;
}

function isInside(file, root) {
  const rel = path.relative(root, file);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

function makeImportCallback(opts) {
  const cwd = process.cwd();
  const base = opts.basePath ? path.resolve(opts.basePath) : cwd;
  const searchRoots = [base, ...opts.includePaths.map((p) => path.resolve(p)), cwd];
  const allowedRoots = [...searchRoots, ...opts.allowPaths.map((p) => path.resolve(p))];
  return function findImport(importPath) {
    const candidates = path.isAbsolute(importPath)
      ? [importPath]
      : searchRoots.map((root) => path.join(root, importPath));
    for (const candidate of candidates) {
      const resolved = path.resolve(candidate);
      if (!allowedRoots.some((root) => isInside(resolved, root))) continue;
      if (fs.existsSync(resolved) && fs.statSync(resolved).isFile()) {
        return { contents: fs.readFileSync(resolved, "utf8") };
      }
    }
    return { error: `File not found or outside the allowed paths: ${importPath}` };
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const solc = require("solc");
  if (opts.version) {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  if (!opts.standardJson) usage("only --version and --standard-json modes are supported");
  const input = fs.readFileSync(0, "utf8");
  try {
    JSON.parse(input);
  } catch (err) {
    process.stdout.write(JSON.stringify({
      errors: [{ type: "JSONError", component: "general", severity: "error",
        message: `Input is not valid JSON: ${err.message}`,
        formattedMessage: `Input is not valid JSON: ${err.message}` }],
    }));
    return;
  }
  const output = solc.compile(input, { import: makeImportCallback(opts) });
  process.stdout.write(output);
}

main();
