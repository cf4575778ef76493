import { isAscii } from "node:buffer";
import { gunzipSync } from "node:zlib";
import { hasMark, references } from "./marks";
import { UNKNOWN_START } from "./sources";

/** EC2's limit on user data, in bytes before base64. */
export const EC2_USER_DATA_LIMIT = 16384;
/** The most the audit decompresses; gzip of 16 KiB can claim far more, and nothing real needs it. */
export const MAX_DECOMPRESSED_BYTES = 1024 * 1024;

/** One part as cloud-init hands it to its part handlers. */
export interface CloudInitPart {
  /** Content type after cloud-init's own typing (`#!` makes text/plain a shell script, ...). */
  readonly contentType: string;
  /** The file name cloud-init uses (its own `part-NNN` when the part has none). */
  readonly filename: string;
  /** The payload as text. */
  readonly payload: string;
  /** MIME headers of the part that hold values known only at apply time, with the references. */
  readonly markedHeaders?: ReadonlyArray<{ readonly header: "content-type" | "content-disposition" | "content-transfer-encoding"; readonly references: string }>;
}

/** The user data as the instance reads it, or why it cannot be read. */
export type ReadUserData =
  | { readonly kind: "cloud-init"; readonly parts: readonly CloudInitPart[]; readonly notes: readonly string[]; readonly text: string }
  | { readonly kind: "unreadable"; readonly reason: string };

const GZIP_MAGIC = [0x1f, 0x8b];
const DECOMPRESS_TYPES = new Set([
  "application/gzip",
  "application/gzip-compressed",
  "application/gzipped",
  "application/x-compress",
  "application/x-compressed",
  "application/x-gunzip",
  "application/x-gzip",
  "application/x-gzip-compressed",
]);
// cloud-init's INCLUSION_TYPES_MAP, searched longest prefix first.
const STARTS_WITH: ReadonlyArray<readonly [string, string]> = (
  [
    ["#include", "text/x-include-url"],
    ["#include-once", "text/x-include-once-url"],
    ["#!", "text/x-shellscript"],
    ["#cloud-config", "text/cloud-config"],
    ["#part-handler", "text/part-handler"],
    ["#cloud-boothook", "text/cloud-boothook"],
    ["#cloud-config-archive", "text/cloud-config-archive"],
    ["#cloud-config-jsonp", "text/cloud-config-jsonp"],
    ["## template: jinja", "text/jinja2"],
    ["text/x-shellscript-per-boot", "text/x-shellscript-per-boot"],
    ["text/x-shellscript-per-instance", "text/x-shellscript-per-instance"],
    ["text/x-shellscript-per-once", "text/x-shellscript-per-once"],
  ] as Array<[string, string]>
).sort((a, b) => b[0].length - a[0].length);
const TYPE_NEEDED = new Set(["text/plain", "text/x-not-multipart", "text/x-shellscript"]);

// Decoders are costly to create and hold no state between whole-buffer decodes.
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });
const STRICT_UTF8_KEEP_BOM = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Strict base64 (what Terraform and EC2 accept), or undefined. Whitespace is not allowed. */
export function decodeBase64(value: string): Buffer | undefined {
  if (value.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(value, "base64");
  // Node skips characters outside the alphabet; re-encoding shows whether any were there.
  return bytes.toString("base64") === value ? bytes : undefined;
}

/** gunzip with a size cap; a reason string when the stream is bad or too large. */
export function gunzipBounded(bytes: Buffer): Buffer | string {
  try {
    return gunzipSync(bytes, { maxOutputLength: MAX_DECOMPRESSED_BYTES });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ERR_BUFFER_TOO_LARGE" || /too large|maxOutputLength/i.test(String(error))) {
      return `it decompresses to more than ${MAX_DECOMPRESSED_BYTES} bytes`;
    }
    return `its gzip stream is damaged (${(error as Error).message}): cloud-init could not decompress it either`;
  }
}

function isGzip(bytes: Buffer): boolean {
  return bytes.length >= 2 && bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
}

/** UTF-8 with invalid bytes kept as lone surrogates U+DC80..U+DCFF (Python's surrogateescape). */
export function decodeSurrogateEscape(bytes: Buffer, charset = "utf-8"): string {
  // ASCII bytes read the same in every charset handled here (the usual case, and one copy).
  if (isAscii(bytes)) return bytes.toString("latin1");
  if (charset === "us-ascii" || charset === "ascii") {
    let out = "";
    for (const byte of bytes) out += byte < 0x80 ? String.fromCharCode(byte) : String.fromCharCode(0xdc00 + byte);
    return out;
  }
  if (charset === "iso-8859-1" || charset === "latin-1" || charset === "latin1") return bytes.toString("latin1");
  try {
    return STRICT_UTF8_KEEP_BOM.decode(bytes);
  } catch {
    let out = "";
    let i = 0;
    while (i < bytes.length) {
      const length = utf8SequenceLength(bytes, i);
      if (length === 0) {
        out += String.fromCharCode(0xdc00 + bytes[i]);
        i += 1;
      } else {
        out += bytes.subarray(i, i + length).toString("utf8");
        i += length;
      }
    }
    return out;
  }
}

function utf8SequenceLength(bytes: Buffer, i: number): number {
  const first = bytes[i];
  if (first < 0x80) return 1;
  const length = first >= 0xc2 && first <= 0xdf ? 2 : first >= 0xe0 && first <= 0xef ? 3 : first >= 0xf0 && first <= 0xf4 ? 4 : 0;
  if (length === 0 || i + length > bytes.length) return 0;
  for (let k = 1; k < length; k++) if ((bytes[i + k] & 0xc0) !== 0x80) return 0;
  try {
    STRICT_UTF8.decode(bytes.subarray(i, i + length));
    return length;
  } catch {
    return 0;
  }
}

/** cloud-init's type_from_starts_with. */
export function typeFromStartsWith(payload: string, fallback: string | undefined): string | undefined {
  // Only the first characters after leading white space decide; the longest prefix is 31 long.
  const start = /[^\s\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u001c-\u001f]/.exec(payload)?.index ?? payload.length;
  const lower = payload.slice(start, start + 40).toLowerCase();
  for (const [prefix, type] of STARTS_WITH) if (lower.startsWith(prefix)) return type;
  return fallback;
}

/**
 * Reads user data bytes the way cloud-init's UserDataProcessor does: gzip is undone, a document
 * with `MIME-Version:` in its first 4096 bytes is split as a MIME message (multipart parts in
 * order, nested multiparts walked), anything else is one part typed by its first characters.
 */
export function readUserDataBytes(input: Buffer): ReadUserData {
  let bytes = input;
  const notes: string[] = [];
  if (isGzip(bytes)) {
    const unzipped = gunzipBounded(bytes);
    if (typeof unzipped === "string") return { kind: "unreadable", reason: `the user data is gzip, but ${unzipped}` };
    bytes = unzipped;
    notes.push("user data is gzip-compressed; read decompressed");
  }
  if (bytes.length > MAX_DECOMPRESSED_BYTES) {
    return { kind: "unreadable", reason: `the user data is ${bytes.length} bytes, more than the audit reads (${MAX_DECOMPRESSED_BYTES})` };
  }
  const head = bytes.subarray(0, 4096).toString("latin1").toLowerCase();
  const leaves: Leaf[] = [];
  let text: string;
  if (head.includes("mime-version:")) {
    try {
      text = STRICT_UTF8.decode(bytes);
    } catch {
      return { kind: "unreadable", reason: "the MIME user data is not valid UTF-8: cloud-init fails to parse it" };
    }
    const message = parseMessage(text, 0);
    if (typeof message === "string") return { kind: "unreadable", reason: message };
    collectLeaves(message, leaves);
  } else {
    text = decodeSurrogateEscape(bytes);
    // cloud-init types a document by its first characters: a value there decides what it is.
    if (startsWithMark(text)) return { kind: "unreadable", reason: `the user data starts with a value known only at apply time (${references(text.slice(0, 400))}): whether it is a shell script, cloud-config or MIME depends on it` };
    leaves.push({ contentType: "text/x-not-multipart", payload: bytes });
  }

  const parts: CloudInitPart[] = [];
  for (const leaf of leaves) {
    let contentType: string | undefined = leaf.contentType;
    let payload: Buffer | string = leaf.payload;
    if (DECOMPRESS_TYPES.has(contentType)) {
      const raw = typeof payload === "string" ? Buffer.from(payload, "latin1") : payload;
      const unzipped = gunzipBounded(raw);
      if (typeof unzipped === "string") {
        return { kind: "unreadable", reason: `a ${contentType} part cannot be read: ${unzipped}` };
      }
      payload = unzipped;
      contentType = "text/plain";
    }
    const asText = typeof payload === "string" ? payload : decodeSurrogateEscape(payload, leaf.charset ?? "utf-8");
    if (TYPE_NEEDED.has(contentType)) {
      const strictText = typeof payload === "string" ? payload : strictUtf8(payload);
      contentType = strictText === undefined ? contentType : (typeFromStartsWith(strictText, undefined) ?? contentType);
    }
    const marked = [...(leaf.markedHeaders ?? [])];
    if (TYPE_NEEDED.has(contentType) && startsWithMark(asText) && !marked.some((m) => m.header === "content-type")) {
      marked.push({ header: "content-type", references: references(asText.slice(0, 400)) });
    }
    parts.push({
      contentType,
      filename: leaf.filename ?? `part-${String(parts.length + 1).padStart(3, "0")}`,
      payload: asText,
      ...(marked.length > 0 ? { markedHeaders: marked } : {}),
    });
  }
  return { kind: "cloud-init", parts, notes, text };
}

type Leaf = { contentType: string; filename?: string; payload: Buffer | string; charset?: string; markedHeaders?: CloudInitPart["markedHeaders"] };

/** Whether the first non-blank characters are a value known only at apply time. */
function startsWithMark(text: string): boolean {
  return hasMark(text.slice(0, 1)) || hasMark(text.trimStart().slice(0, 1));
}

function strictUtf8(bytes: Buffer): string | undefined {
  try {
    return STRICT_UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}

interface MimeMessage {
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: string;
  readonly children?: readonly MimeMessage[];
}

const MAX_DEPTH = 10;

/** Python's email feedparser for the shapes user data takes: headers, then body or parts. */
function parseMessage(text: string, depth: number): MimeMessage | string {
  // Lines keep their endings (\r\n, \r or \n), as Python's parser keeps them in bodies.
  const lines = text.includes("\r") ? text.split(/(?<=\r\n|\r(?!\n)|\n)/) : splitKeepingNewlines(text);
  return parseLines(lines, depth);
}

function bare(line: string): string {
  return line.endsWith("\n") ? line.slice(0, line.endsWith("\r\n") ? -2 : -1) : line.endsWith("\r") ? line.slice(0, -1) : line;
}

/** One message from its lines; parts are parsed from slices of the same lines, not re-split. */
function parseLines(lines: readonly string[], depth: number): MimeMessage | string {
  if (depth > MAX_DEPTH) return `the MIME document nests more than ${MAX_DEPTH} multiparts deep`;
  const headers: Array<[string, string]> = [];
  let index = 0;
  if (lines[0]?.startsWith("From ")) index = 1;
  for (; index < lines.length; index++) {
    const line = bare(lines[index]);
    if (line === "") {
      index += 1;
      break;
    }
    if ((line[0] === " " || line[0] === "\t") && headers.length > 0) {
      headers[headers.length - 1][1] += `\n${line}`;
      continue;
    }
    const match = /^([^\s:]+):(.*)$/.exec(line);
    // A value in the headers can add any header, a boundary or a type: the layout cannot be told.
    if ((!match || hasMark(match[1])) && hasMark(line)) return `a MIME header line is known only at apply time (${references(line)}): the parts and their types cannot be told`;
    if (!match) break; // Not a header: the body starts here (Python records a defect).
    headers.push([match[1].toLowerCase(), match[2].replace(/^[ \t]+/, "")]);
  }
  const rawType = header(headers, "content-type") ?? "";
  const contentType = parseContentType(header(headers, "content-type"));
  if ((depth === 0 && hasMark(rawType.split(";")[0])) || (contentType.type.startsWith("multipart/") && hasMark(contentType.params.get("boundary") ?? ""))) {
    return `the MIME Content-Type "${rawType.replace(/\s+/g, " ")}" holds a value known only at apply time (${references(rawType)}): where its parts begin and end cannot be told`;
  }
  if (!contentType.type.startsWith("multipart/")) return { headers, body: lines.slice(index).join("") };
  const boundary = contentType.params.get("boundary");
  if (boundary === undefined) return { headers, body: "", children: [] };
  const children: MimeMessage[] = [];
  // `--boundary`, `--` after it on the closing line, then only blanks (a string test: a RegExp per
  // boundary is compiled anew for each document).
  const marker = `--${boundary}`;
  const separator = (line: string): { readonly closing: boolean } | undefined => {
    if (!line.startsWith(marker)) return undefined;
    const rest = bare(line).slice(marker.length);
    const closing = rest.startsWith("--");
    return /^[ \t]*$/.test(closing ? rest.slice(2) : rest) ? { closing } : undefined;
  };
  // The line ending before a boundary belongs to the boundary, and so does the last one at EOF.
  const finish = (from: number, to: number): string | undefined => {
    const part = lines.slice(from, to);
    if (part.length > 0) part[part.length - 1] = bare(part[part.length - 1]);
    const child = parseLines(part, depth + 1);
    if (typeof child === "string") return child;
    children.push(child);
    return undefined;
  };
  let partStart: number | undefined;
  for (let i = index; i < lines.length; i++) {
    const line = lines[i];
    const match = separator(line);
    if (!match) continue;
    if (partStart !== undefined) {
      const failure = finish(partStart, i);
      if (failure) return failure;
    }
    if (match.closing) return { headers, body: "", children };
    partStart = i + 1;
  }
  if (partStart !== undefined) {
    const failure = finish(partStart, lines.length);
    if (failure) return failure;
  }
  return { headers, body: "", children };
}

function splitKeepingNewlines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (let end = text.indexOf("\n"); end >= 0; end = text.indexOf("\n", start)) {
    lines.push(text.slice(start, end + 1));
    start = end + 1;
  }
  if (start < text.length || lines.length === 0) lines.push(text.slice(start));
  return lines;
}

function header(headers: ReadonlyArray<readonly [string, string]>, name: string): string | undefined {
  return headers.find(([key]) => key === name)?.[1];
}

/** Content-Type as Python's email reads it: malformed types become text/plain. */
export function parseContentType(value: string | undefined): { type: string; params: Map<string, string> } {
  const params = new Map<string, string>();
  if (value === undefined) return { type: "text/plain", params };
  const pieces = splitParams(value.replace(/\n/g, " "));
  const type = pieces[0].trim().toLowerCase();
  for (const piece of pieces.slice(1)) {
    const equals = piece.indexOf("=");
    if (equals < 0) continue;
    let paramValue = piece.slice(equals + 1).trim();
    if (paramValue.startsWith('"') && paramValue.endsWith('"') && paramValue.length >= 2) {
      paramValue = paramValue.slice(1, -1).replace(/\\(.)/g, "$1");
    }
    params.set(piece.slice(0, equals).trim().toLowerCase(), paramValue);
  }
  return { type: type.split("/").length === 2 ? type : "text/plain", params };
}

function splitParams(value: string): string[] {
  // Without a quote, no ";" is quoted (the usual header): a plain split gives the same pieces.
  if (!value.includes('"')) return value.split(";");
  const pieces: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const char = value[i];
    if (char === "\\" && quoted) {
      current += char + (value[i + 1] ?? "");
      i += 1;
    } else if (char === '"') {
      quoted = !quoted;
      current += char;
    } else if (char === ";" && !quoted) {
      pieces.push(current);
      current = "";
    } else {
      current += char;
    }
  }
  pieces.push(current);
  return pieces;
}

function collectLeaves(message: MimeMessage, out: Leaf[]): void {
  const contentType = parseContentType(header(message.headers, "content-type"));
  if (contentType.type.startsWith("multipart/")) {
    for (const child of message.children ?? []) collectLeaves(child, out);
    return;
  }
  const disposition = parseContentType(`x/x; ${(header(message.headers, "content-disposition") ?? "").replace(/^[^;]*;?/, "")}`);
  const filename = disposition.params.get("filename") ?? contentType.params.get("name");
  const encoding = (header(message.headers, "content-transfer-encoding") ?? "").trim().toLowerCase();
  const charset = contentType.params.get("charset")?.toLowerCase();
  let payload: Buffer | string;
  if (encoding !== "base64" && encoding !== "quoted-printable" && message.body.includes(UNKNOWN_START)) {
    // Values known only at apply time stay marks, never bytes of the part: the text around them is decoded as Python would.
    payload = message.body
      .split(/(\ue000[^\ue001]*\ue001)/)
      .map((piece, index) => (index % 2 === 1 ? piece : decodeSurrogateEscape(rawUnicodeEscape(piece), charset ?? "utf-8")))
      .join("");
  } else if (encoding === "base64") {
    payload = Buffer.from(message.body.replace(/[^A-Za-z0-9+/=]/g, ""), "base64");
  } else if (encoding === "quoted-printable") {
    payload = decodeQuotedPrintable(message.body);
  } else {
    // Python re-encodes a decoded str payload: ASCII as is, other characters below U+0100 as one
    // byte (raw-unicode-escape), which the charset then decodes.
    payload = rawUnicodeEscape(message.body);
  }
  const markedHeaders = (["content-type", "content-disposition", "content-transfer-encoding"] as const)
    .filter((name) => hasMark(header(message.headers, name) ?? ""))
    .map((name) => ({ header: name, references: references(header(message.headers, name) ?? "") }));
  out.push({ contentType: contentType.type, ...(filename !== undefined ? { filename } : {}), payload, charset, ...(markedHeaders.length > 0 ? { markedHeaders } : {}) });
}

function rawUnicodeEscape(text: string): Buffer {
  // Pure ASCII (the usual case) is its own encoding: its UTF-8 length is its length.
  if (Buffer.byteLength(text, "utf8") === text.length) return Buffer.from(text, "latin1");
  let out = "";
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    if (code < 0x100) out += String.fromCharCode(code);
    else if (code < 0x10000) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else out += `\\U${code.toString(16).padStart(8, "0")}`;
  }
  return Buffer.from(out, "latin1");
}

function decodeQuotedPrintable(text: string): Buffer {
  const joined = text.replace(/=\n/g, "");
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    const char = joined[i];
    if (char === "=" && /^[0-9A-Fa-f]{2}$/.test(joined.slice(i + 1, i + 3))) {
      bytes.push(parseInt(joined.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(char, "utf8"));
    }
  }
  return Buffer.from(bytes);
}
