/**
 * The audit follows shell that writes ecs.config without running it. Here bash runs the same
 * random scripts (echo, printf, heredocs of every form, here-strings, tee, sed -i, grep guards, if, case, for,
 * while and until loops with break, functions, subshells, variables, rm, touch), and the
 * file the audit predicts must be the file bash writes, byte for byte.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { InstanceState, knownText } from "../../lib/audit/instance";
import { interpretScript } from "../../lib/audit/interpreter";
import { parseShell } from "../../lib/audit/shell";
import { UNKNOWN_END, UNKNOWN_START } from "../../lib/audit/sources";

const KEYS = ["ECS_CLUSTER", "ECS_AWSVPC_BLOCK_IMDS", "ECS_LOGLEVEL"] as const;
const VALUES = ["true", "false", "prod", "\"true\"", "debug", " spaced"] as const;

const key = fc.constantFrom(...KEYS);
const value = fc.constantFrom(...VALUES);
const quote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;

/** One line (or heredoc) of shell writing "$F". */
const command = fc.oneof(
  fc.tuple(key, value).map(([k, v]) => `echo ${quote(`${k}=${v}`)} >> "$F"`),
  fc.tuple(key, value).map(([k, v]) => `echo "${k}=${v.replace(/"/g, '\\"')}" > "$F"`),
  fc.tuple(key, value, key, value).map(([k, v, k2, v2]) => `printf '%s\\n' ${quote(`${k}=${v}`)} ${quote(`${k2}=${v2}`)} >> "$F"`),
  fc.tuple(key, value).map(([k, v]) => `cat <<'EOF' >> "$F"\n${k}=${v}\nEOF`),
  fc.tuple(key).map(([k]) => `cat >> "$F" <<EOF\n${k}=$X\nEOF`),
  fc.tuple(key, value).map(([k, v]) => `echo ${quote(`${k}=${v}`)} | tee -a "$F" > /dev/null`),
  key.map((k) => `sed -i '/^${k}=/d' "$F"`),
  fc.tuple(key, value).map(([k, v]) => `sed -i 's/^${k}=.*/${k}=${v.replace(/"/g, "")}/' "$F"`),
  value.map((v) => `X=${quote(v)}`),
  fc.tuple(key, value).map(([k, v]) => `grep -q '^${k}=' "$F" 2>/dev/null || echo ${quote(`${k}=${v}`)} >> "$F"`),
  fc.tuple(key, value).map(([k, v]) => `if grep -q '^${k}=' "$F" 2>/dev/null; then\n  sed -i 's/^${k}=.*/${k}=${v.replace(/"/g, "")}/' "$F"\nelse\n  echo ${quote(`${k}=${v}`)} >> "$F"\nfi`),
  fc.tuple(key, key).map(([k, k2]) => `for name in ${k} ${k2}; do echo "$name=$X" >> "$F"; done`),
  fc.tuple(key, value, value).map(([k, v, v2]) => `case "$X" in\n  initial|prod) echo ${quote(`${k}=${v}`)} >> "$F" ;;\n  *) echo ${quote(`${k}=${v2}`)} >> "$F" ;;\nesac`),
  fc.tuple(key, value).map(([k, v]) => `put() { echo "$1=$2" >> "$F"; }\nput ${k} ${quote(v)}`),
  fc.tuple(key, value).map(([k, v]) => `( X=${quote(v)}; echo "${k}=$X" >> "$F"; exit 3 )`),
  fc.tuple(key, value).map(([k, v]) => `tee -a "$F" <<< ${quote(`${k}=${v}`)} > /dev/null`),
  fc.tuple(key).map(([k]) => `cat <<-EOF >> "$F"\n\t${k}=$X\n\tEOF`),
  fc.tuple(key, value).map(([k, v]) => `until grep -q '^${k}=' "$F" 2>/dev/null; do echo ${quote(`${k}=${v}`)} >> "$F"; done`),
  key.map((k) => `while [ -f "$F" ] && grep -q '^${k}=' "$F"; do sed -i '/^${k}=/d' "$F"; done`),
  fc.tuple(key, value).map(([k, v]) => `for i in {1..3}; do echo "${k}=$i" >> "$F"; [ "$i" = 2 ] && break; done\necho ${quote(`${k}=${v}`)} >> "$F"`),
  fc.tuple(key, value).map(([k, v]) => `echo ${quote(`${k}=${v}`)} \\\n  >> "$F"`),
  fc.constant('[ -f "$F" ] || touch "$F"'),
  fc.constant('rm -f "$F"'),
  fc.constant('touch "$F"'),
);

describe("the audit's reading of shell that writes a file, against bash", () => {
  const dir = mkdtempSync(join(tmpdir(), "ecs-imds-audit-bash-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("predicts the file bash writes", () => {
    let run = 0;
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 8 }), (commands) => {
        const file = join(dir, `ecs-${run++}.config`);
        const script = `#!/bin/bash\nF=${file}\nX=initial\n${commands.join("\n")}\n`;
        const bash = spawnSync("bash", ["-c", script], { timeout: 10_000 });
        if (bash.error) throw bash.error;
        const written = existsSync(file) ? readFileSync(file, "utf8") : undefined;
        const state = new InstanceState();
        interpretScript(state, script, "generated script");
        const predicted = state.files.has(file) ? knownText(state.files.get(file)) : undefined;
        rmSync(file, { force: true });
        expect({ script, file: predicted }).toEqual({ script, file: written });
      }),
      { numRuns: 150 },
    );
  });
});

describe("pieces of a script parsed on their own", () => {
  it("give the tree the whole script gives", () => {
    // Text holding a reference is parsed whole; a reference in a comment changes nothing else.
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 8 }), (commands) => {
        const script = `#!/bin/bash\nF=/etc/ecs/ecs.config\nX=initial\n${commands.join("\n")}\n`;
        expect(parseShell(script)).toEqual(parseShell(`${script}# ${UNKNOWN_START}var.unused${UNKNOWN_END}\n`));
      }),
      { numRuns: 150 },
    );
  });
});
