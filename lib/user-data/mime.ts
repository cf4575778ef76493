import { createHash } from "node:crypto";
import { RenderedPart } from "./types";

/**
 * Chooses a boundary that occurs in no part. It starts and ends with "==", characters that no
 * cluster name holds, so a name substituted at plan time cannot complete one either. Derived from
 * the content, so the same input gives the same bytes; `stable` gives the text it is derived from
 * (a token's placeholder changes with the tokens an app made before it, its value does not).
 */
export function chooseBoundary(parts: readonly RenderedPart[], stable: (content: string) => string = (content) => content): string {
  const digest = createHash("sha256");
  for (const part of parts) digest.update(part.contentType).update("\0").update(stable(part.content)).update("\0");
  const seed = digest.digest("hex");
  for (let attempt = 0; ; attempt++) {
    const boundary = `==ECS-IMDS-GUARD-${createHash("sha256").update(`${seed}:${attempt}`).digest("hex").slice(0, 24)}==`;
    if (parts.every((part) => !part.content.includes(boundary))) return boundary;
  }
}

/** Whether every character is 7-bit ASCII. */
function isAscii(text: string): boolean {
  return /^[\x00-\x7f]*$/.test(text);
}

/**
 * A multipart/mixed document as cloud-init reads it. The newline before each delimiter belongs to
 * the delimiter (RFC 2046), so each part's body is exactly its content.
 */
export function renderMultipart(parts: readonly RenderedPart[], boundary: string): string {
  const sections = parts.map((part) => {
    const ascii = isAscii(part.content);
    const base64 = travelsAsBase64(part.content);
    return [
      `--${boundary}`,
      `Content-Type: ${part.contentType}; charset="${ascii ? "us-ascii" : "utf-8"}"`,
      "MIME-Version: 1.0",
      `Content-Transfer-Encoding: ${base64 ? "base64" : "7bit"}`,
      `Content-Disposition: attachment; filename="${part.filename}"`,
      "",
      base64 ? wrapBase64(Buffer.from(part.content, "utf8").toString("base64")) : part.content,
    ].join("\n");
  });
  return [
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    "MIME-Version: 1.0",
    "",
    ...sections,
    `--${boundary}--`,
    "",
  ].join("\n");
}

/**
 * Whether a part must travel as base64 to arrive byte for byte. cloud-init re-encodes 8bit text
 * parts as Latin-1, so non-ASCII parts do. So does a part ending with a carriage return: the parser
 * takes the CR and the LF before the delimiter together as the line break the delimiter owns, and
 * the CR would be lost.
 */
function travelsAsBase64(content: string): boolean {
  return !isAscii(content) || content.endsWith("\r");
}

/** Base64 in lines of 76 characters, as MIME requires. */
function wrapBase64(encoded: string): string {
  return encoded.match(/.{1,76}/g)?.join("\n") ?? "";
}
