#!/usr/bin/env node
// The `phoenix` command runs the compiled CLI (npm run build writes dist/).
"use strict";
const path = require("path");
const fs = require("fs");
const entry = path.join(__dirname, "..", "dist", "infra", "cli", "main.js");
if (!fs.existsSync(entry)) {
  process.stderr.write("phoenix: not built yet; run `npm run build` first\n");
  process.exit(2);
}
require(entry).main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`phoenix: ${err && err.message ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
