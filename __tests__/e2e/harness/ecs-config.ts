/**
 * ecs-init's reading of the agent settings, written here independently of the renderer so that
 * the suite checks the file against the consumer's rules, not against the producer's own parser:
 * /var/lib/ecs/ecs.config first, /etc/ecs/ecs.config over it; each file split on newlines, each
 * line trimmed and split at the first `=`, lines without `=` ignored, the last copy of a key wins,
 * values taken verbatim (no unquoting).
 */
export function readAgentSettings(files: ReadonlyArray<string | undefined>): Map<string, string> {
  const settings = new Map<string, string>();
  for (const text of files) {
    for (const line of (text ?? "").split("\n")) {
      const trimmed = line.trim();
      const equals = trimmed.indexOf("=");
      if (equals === -1) continue;
      settings.set(trimmed.slice(0, equals), trimmed.slice(equals + 1));
    }
  }
  return settings;
}

/** How many lines of a file define `key` (ecs-init keeps the last; the guard writes each once). */
export function copiesOfKey(text: string, key: string): number {
  return text.split("\n").filter((line) => line.trim().startsWith(`${key}=`)).length;
}
