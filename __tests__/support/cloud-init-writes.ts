import { spawnSync } from "node:child_process";

// What cloud-init does with a document: its own parser, then its own shell-script handler writing
// each script and boothook part into a scratch instance folder (nothing is executed). Reports an
// exception of the parser, the file each part goes to, and write errors.
const CLOUD_INIT_WRITES = `
import base64, json, os, shutil, sys, tempfile
from cloudinit import helpers, user_data, util
from cloudinit.handlers.shell_script import ShellScriptPartHandler
out = []
for blob in json.load(sys.stdin):
    try:
        message = user_data.UserDataProcessor({}).process(base64.b64decode(blob))
    except Exception as error:
        out.append({"error": type(error).__name__ + ": " + str(error)})
        continue
    scratch = tempfile.mkdtemp()
    paths = helpers.Paths({"cloud_dir": scratch})
    folders = {"text/x-shellscript": "scripts", "text/cloud-boothook": "boothooks"}
    handlers = {t: ShellScriptPartHandler(paths, script_path=f) for t, f in folders.items()}
    parts = []
    for part in message.walk():
        if part.get_content_maintype() == "multipart":
            continue
        ctype, name = part.get_content_type(), part.get_filename()
        entry = {"contentType": ctype, "filename": name, "file": None, "writeError": None}
        if ctype in handlers:
            entry["file"] = folders[ctype] + "/" + util.clean_filename(name)
            try:
                handlers[ctype].handle_part(None, ctype, name, util.fully_decoded_payload(part), None)
            except Exception as error:
                entry["writeError"] = type(error).__name__
        parts.append(entry)
    shutil.rmtree(scratch)
    out.append({"parts": parts})
json.dump(out, sys.stdout)
`;

/** What cloud-init did with one document. */
export interface CloudInitWrites {
  /** The exception cloud-init's parser raised: then it runs no part at all. */
  readonly error?: string;
  /** Each part after parsing (archives exploded), the file its handler writes and any write error. */
  readonly parts?: ReadonlyArray<{ contentType: string; filename: string; file: string | null; writeError: string | null }>;
}

/** Parses and writes each document as cloud-init does (see above), in one Python process. */
export function writtenByCloudInit(documents: readonly string[]): CloudInitWrites[] {
  const result = spawnSync("/usr/bin/python3", ["-c", CLOUD_INIT_WRITES], {
    input: JSON.stringify(documents.map((d) => Buffer.from(d, "utf8").toString("base64"))),
    encoding: "utf8",
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`cloud-init check failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

/**
 * What it means for the parts: cloud-init failed on the whole user data, a part could not be
 * written, a part was written over another's file, or every part got a file of its own.
 */
export function effectOf(result: CloudInitWrites): "fails" | "cannot write" | "overwrites" | "separate" {
  if (result.error !== undefined) return "fails";
  const parts = result.parts ?? [];
  if (parts.some((p) => p.writeError !== null)) return "cannot write";
  const files = parts.map((p) => p.file).filter((file) => file !== null);
  return new Set(files).size < files.length ? "overwrites" : "separate";
}
