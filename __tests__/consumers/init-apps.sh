#!/usr/bin/env bash
# Rewrites the consumer apps as the init commands write them, each with the lock file that init's
# own npm install leaves (run it when the init commands change; the tests never run init). Run from
# anywhere, with the npm registry reachable:
#   bash __tests__/consumers/init-apps.sh [APP...]     (default: all four)
# (OUT=folder writes the apps there instead of beside this script.)
# cdktf-0.21 and cdktn-0.24 are init's output, untouched. The two apps at the low end of the peer
# ranges are init's output of the matching CLI with the oldest supported peers then installed
# exactly, in one `npm install` (which must also set TypeScript below 7, or it stops with ERESOLVE).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${OUT:-$here}
export CHECKPOINT_DISABLE=1 CI=true npm_config_audit=false npm_config_fund=false
export TF_CLI_CONFIG_FILE=${TF_CLI_CONFIG_FILE:-/dev/null}

# cdktn-cli needs Node.js 22.19 or later: init on the pinned Node 22.
bins=$(node "$root/tools/consumer-nodes.cjs")
PATH="$(node -e 'process.stdout.write(JSON.parse(process.argv[1])["22"])' "$bins"):$PATH"
echo "init on Node.js $(node --version)"

init_app() {
  local name=$1 cli=$2 description=$3
  shift 3
  local work
  work=$(mktemp -d)
  mkdir "$work/$name"
  (
    cd "$work/$name"
    npx --yes "$cli" init --template=typescript --local --project-name="$name" \
      --project-description="$description" --enable-crash-reporting=false >/dev/null
    if [ $# -gt 0 ]; then npm install "$@" >/dev/null; fi
    rm -rf node_modules
  )
  mkdir -p "$out/$name"
  find "$out/$name" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  cp -a "$work/$name/." "$out/$name/"
  rm -rf "$work"
  echo "$name: $(cd "$out/$name" && node -e 'const p=require("./package.json");console.log(JSON.stringify({...p.dependencies,...p.devDependencies}))')"
}

apps=("$@")
[ ${#apps[@]} -gt 0 ] || apps=(cdktf-0.21 cdktf-0.20 cdktn-0.24 cdktn-0.24-lowest)
for app in "${apps[@]}"; do
  case "$app" in
    cdktf-0.21) init_app cdktf-0.21 cdktf-cli@0.21.0 "A cdktf app" ;;
    cdktf-0.20) init_app cdktf-0.20 cdktf-cli@0.20.12 "A cdktf app" \
      --save-exact cdktf@0.20.12 constructs@10.4.2 @cdktf/provider-aws@19.0.0 typescript@5.9.3 ;;
    cdktn-0.24) init_app cdktn-0.24 cdktn-cli@0.24.0 "A CDK Terrain app" ;;
    cdktn-0.24-lowest) init_app cdktn-0.24-lowest cdktn-cli@0.24.0 "A CDK Terrain app" \
      --save-exact constructs@10.6.0 @cdktn/provider-aws@25.5.0 ;;
    *) echo "unknown app $app" >&2; exit 2 ;;
  esac
done
