/**
 * The MIME document `data "cloudinit_config"` (hashicorp/cloudinit) and `data
 * "template_cloudinit_config"` (hashicorp/template) render, byte for byte. Both providers write it
 * with Go's `mime/multipart` writer; the layout below is what that writer produces:
 * - a first line `Content-Type: multipart/mixed; boundary="B"` ended by "\n" alone, then
 *   `MIME-Version: 1.0` and an empty line, both ended by "\r\n";
 * - each part opens with `--B\r\n` (the first) or `\r\n--B\r\n` (the others), then its headers in
 *   Go's canonical spelling sorted by name (`Content-Disposition: attachment; filename="f"` when a
 *   filename is set, `Content-Transfer-Encoding: 7bit`, `Content-Type: <type or text/plain>`,
 *   `Mime-Version: 1.0`, `X-Merge-Type: <merge_type>` when set), each ended by "\r\n", an empty
 *   line, and the content as given (no line ending added);
 * - the document closes with `\r\n--B--\r\n`.
 * Parts keep their order of declaration. Both default to gzip = true and base64_encode = true and
 * refuse gzip without base64; only hashicorp/cloudinit has `boundary` (default `MIMEBOUNDARY`).
 */

/** One `part` block, its attributes evaluated. */
export interface CloudInitConfigPart {
  readonly contentType?: string;
  readonly content: string;
  readonly filename?: string;
  readonly mergeType?: string;
}

/** The boundary both providers use unless told otherwise. */
export const DEFAULT_MIME_BOUNDARY = "MIMEBOUNDARY";

/**
 * Why Go's multipart writer refuses a boundary (`SetBoundary`): 1 to 70 characters from letters,
 * digits and `'()+_,-./:=?` or space, not ending in a space. Undefined when it accepts it.
 */
export function boundaryProblem(boundary: string): string | undefined {
  if (boundary.length < 1 || boundary.length > 70) return `boundary "${boundary}" must be 1 to 70 characters long`;
  if (!/^[A-Za-z0-9'()+_,\-./:=? ]*[A-Za-z0-9'()+_,\-./:=?]$/.test(boundary)) {
    return `boundary "${boundary}" may hold only letters, digits, '()+_,-./:=? and spaces, and may not end in a space`;
  }
  return undefined;
}

/** The rendered MIME text, before the providers' optional gzip and base64. */
export function renderCloudInitMime(parts: readonly CloudInitConfigPart[], boundary = DEFAULT_MIME_BOUNDARY): string {
  let out = `Content-Type: multipart/mixed; boundary="${boundary}"\nMIME-Version: 1.0\r\n\r\n`;
  parts.forEach((part, index) => {
    const headers: Array<[string, string]> = [
      ["Content-Type", part.contentType ? part.contentType : "text/plain"],
      ["Mime-Version", "1.0"],
      ["Content-Transfer-Encoding", "7bit"],
    ];
    if (part.filename) headers.push(["Content-Disposition", `attachment; filename="${part.filename}"`]);
    if (part.mergeType) headers.push(["X-Merge-Type", part.mergeType]);
    headers.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    out += `${index === 0 ? "" : "\r\n"}--${boundary}\r\n${headers.map(([name, value]) => `${name}: ${value}\r\n`).join("")}\r\n${part.content}`;
  });
  return `${out}\r\n--${boundary}--\r\n`;
}
