import { spawnSync } from "node:child_process";

/** A part as cloud-init's own parser sees it. */
export interface CloudInitPart {
  readonly contentType: string;
  readonly filename: string | null;
  readonly payload: string;
}

// cloud-init's UserDataProcessor is what EC2 instances run on the user data: decompression,
// MIME parsing and part typing; payloads are decoded as its part handlers decode them. include-url parts would make it fetch URLs, so callers avoid them.
const PARSER = `
import base64, json, sys
from cloudinit import user_data, util
out = []
for blob in json.load(sys.stdin):
    message = user_data.UserDataProcessor({}).process(base64.b64decode(blob))
    parts = []
    for part in message.walk():
        if part.get_content_maintype() == "multipart":
            continue
        parts.append({"contentType": part.get_content_type(), "filename": part.get_filename(),
                      "payload": util.fully_decoded_payload(part)})
    out.append(parts)
json.dump(out, sys.stdout)
`;

/** Parses each document (raw or gzip bytes) with cloud-init, in one Python process. */
export function parseWithCloudInit(documents: readonly Buffer[]): CloudInitPart[][] {
  const result = spawnSync("/usr/bin/python3", ["-c", PARSER], {
    input: JSON.stringify(documents.map((d) => d.toString("base64"))),
    encoding: "utf8",
    timeout: 60_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.status !== 0) {
    throw new Error(`cloud-init parser failed (${result.status ?? result.signal}): ${result.stderr || result.error}`);
  }
  return JSON.parse(result.stdout) as CloudInitPart[][];
}
