// The floor the audit of a Terraform JSON file is measured against: read the file and decode every
// template's user data (base64, gzip when the bytes are gzip, a MIME multipart split into its parts'
// payloads), and nothing else. Plain Node, none of the package's code: what any reader of the same
// file has to pay at least.
//   node bench/audit-floor.cjs FILE.tf.json   prints {"templates":N,"parts":P,"bytes":B}
"use strict";
const { readFileSync } = require("node:fs");
const { gunzipSync } = require("node:zlib");

const RESOURCE_TYPES = ["aws_launch_template", "aws_instance", "aws_launch_configuration"];

/** The payloads of a MIME multipart document, split on its boundary (one payload when it is not one). */
function mimeParts(text) {
  const boundary = /boundary="?([^"\r\n;]+)"?/i.exec(text.slice(0, 4096));
  if (!/mime-version:/i.test(text.slice(0, 4096)) || !boundary) return [text];
  const parts = text.split(`--${boundary[1]}`).slice(1, -1);
  return parts.map((part) => {
    const bodyAt = part.search(/\r?\n\r?\n/);
    const body = bodyAt < 0 ? "" : part.slice(bodyAt).trim();
    return /content-transfer-encoding:\s*base64/i.test(part.slice(0, bodyAt)) ? Buffer.from(body, "base64").toString("utf8") : body;
  });
}

function main(file) {
  const json = JSON.parse(readFileSync(file, "utf8"));
  let templates = 0;
  let parts = 0;
  let bytes = 0;
  for (const type of RESOURCE_TYPES) {
    for (const resource of Object.values(json.resource?.[type] ?? {})) {
      templates += 1;
      const userData = resource.user_data ?? resource.user_data_base64;
      if (typeof userData !== "string") continue;
      let decoded = Buffer.from(userData, "base64");
      if (decoded[0] === 0x1f && decoded[1] === 0x8b) decoded = gunzipSync(decoded);
      const payloads = mimeParts(decoded.toString("utf8"));
      parts += payloads.length;
      bytes += payloads.reduce((sum, payload) => sum + payload.length, 0);
    }
  }
  process.stdout.write(`${JSON.stringify({ templates, parts, bytes })}\n`);
}

main(process.argv[2]);
