// Fallback peak-memory probe for machines without GNU time: preloaded into every node process of a
// measured command through NODE_OPTIONS, it appends that process's peak RSS (KiB) on exit.
"use strict";
const { appendFileSync } = require("node:fs");

const target = process.env.BENCH_RSS_FILE;
if (target) {
  process.on("exit", () => {
    try {
      appendFileSync(target, `${process.resourceUsage().maxRSS}\n`);
    } catch {
      // A probe must never change the outcome of the command it measures.
    }
  });
}
