#!/usr/bin/env bash
# Runs the audit on root modules of cloned repositories and prints one Markdown table row per
# resource and mode.
#
#   tools/audit-real-world.sh CLONES LIST [MODES]
#
# CLONES holds one clone per repository, named owner+name; LIST has one "owner/name path [ARGS...]"
# line per root module (path inside the repository, "." for its root; ARGS are more audit options,
# such as --var-file {repo}/env/prod.tfvars, where {repo} stands for the clone's folder; "#" starts a
# comment); MODES defaults to bridge,awsvpc. Runs the TypeScript sources.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 CLONES LIST [MODES]" >&2
  exit 2
fi
clones=$1
list=$2
modes=${3:-bridge,awsvpc}
root=$(cd "$(dirname "$0")/.." && pwd)

# The sources, never dist/: a build left from before a change would give the old verdicts.
audit=(node --require "$root/tools/swc-register.cjs" "$root/lib/bin/ecs-imds-guard.ts")

echo "| repository | commit | path | resource | mode | verdict | first reason |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
while read -r repo path extra; do
  case "$repo" in "" | "#"*) continue ;; esac
  dir="$clones/${repo/\//+}"
  commit=$(git -C "$dir" rev-parse --short=12 HEAD 2>/dev/null || echo "?")
  # Exit 1 only means something reached --fail-on; 2 is an input the audit could not read.
  read -r -a args <<<"${extra//\{repo\}/$dir}"
  json=$("${audit[@]}" audit --format json --network-modes "$modes" "${args[@]}" "$dir/$path" 2>/tmp/audit-real-world.err) || [ $? -eq 1 ] || {
    echo "| $repo | $commit | $path $extra | (not read) | | error | $(tr '\n|' ' /' </tmp/audit-real-world.err | cut -c1-200) |"
    continue
  }
  printf '%s' "$json" | REPO="$repo" COMMIT="$commit" DIR_PATH="$path${extra:+ ${extra//\{repo\}\//}}" node -e '
    const report = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const cell = (text) => String(text).replace(/\|/g, "/").replace(/\n/g, " ").slice(0, 220);
    if (report.resources.length === 0) console.log(`| ${process.env.REPO} | ${process.env.COMMIT} | ${process.env.DIR_PATH} | (none found) | | | |`);
    for (const resource of report.resources) {
      for (const mode of report.networkModes) {
        console.log(`| ${process.env.REPO} | ${process.env.COMMIT} | ${process.env.DIR_PATH} | ${resource.address} | ${mode} | ${resource.verdicts[mode]} | ${cell((resource.reasons[mode] ?? [])[0] ?? "")} |`);
      }
    }'
done <"$list"
