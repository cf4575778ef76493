/**
 * Values Terraform knows only at apply time, as they stand in evaluated user data: U+E000, the
 * reference's expression, U+E001 (see sources.ts). The instance layers read them as values the
 * audit cannot know, never as text.
 */
import { FileContent } from "./instance";
import { UNKNOWN_END, UNKNOWN_START } from "./sources";

const MARK = /\ue000([^\ue001]*)\ue001?/g;

/** Whether a text holds a value known only at apply time. */
export function hasMark(text: string): boolean {
  return text.includes(UNKNOWN_START);
}

/** The references marked in a text, for reasons: `var.a, data.b.c`. */
export function references(text: string): string {
  const found = [...new Set([...text.matchAll(MARK)].map((m) => m[1]))];
  return found.join(", ");
}

/** Whether the text is nothing but marks and white space: a value standing for whole lines. */
export function wholly(text: string): boolean {
  return hasMark(text) && text.replace(MARK, "").trim() === "";
}

/** A mark for content the audit cannot see, so one path reads references and unseen pieces alike. */
export function mark(what: string): string {
  // Reasons around a mark already say "known only at apply time".
  return `${UNKNOWN_START}${what.replace(/, known only at apply time$/, "").replace(/[\n\ue000\ue001]/g, " ")}${UNKNOWN_END}`;
}

/** A file's content as text, its unseen pieces as marks; undefined for saved firewall tables. */
export function markedText(content: FileContent | undefined): string | undefined {
  if (content === undefined) return undefined;
  if (content.kind === "saved") return undefined;
  return content.segments.map((s) => (typeof s === "string" ? s : mark(s.unseen))).join("");
}

/** Text with marks as file segments: each mark an unseen piece naming its reference. */
export function segmentsOf(text: string): Array<string | { unseen: string }> {
  const out: Array<string | { unseen: string }> = [];
  let last = 0;
  for (const match of text.matchAll(MARK)) {
    if ((match.index ?? 0) > last) out.push(text.slice(last, match.index));
    out.push({ unseen: `${match[1]}, known only at apply time` });
    last = (match.index ?? 0) + match[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}
