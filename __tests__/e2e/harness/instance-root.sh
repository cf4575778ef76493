#!/bin/bash
# Runs a command as the emulated instance's boot would, inside a private mount namespace (the
# caller wraps this in `ip netns exec <instance> unshare --mount --propagation private`):
# /etc, /var and /usr/local are overlays whose upper layers live in the instance's state directory
# (its "disk", kept across runs like a reboot keeps it), /run is the state directory's run/ (kept
# across runs of one boot; EmulatedInstance empties it on reboot), and /dev/console is a file the
# test reads. The machine's own files are never written.
# Usage: instance-root.sh <state dir> <command> [args...]
set -euo pipefail
state=$1
shift
for dir in etc var usr/local; do
  mkdir -p "$state/disk/$dir" "$state/work/$dir"
  mount -t overlay "instance-${dir//\//-}" -o "lowerdir=/$dir,upperdir=$state/disk/$dir,workdir=$state/work/$dir" "/$dir"
done
mkdir -p "$state/run"
mount --bind "$state/run" /run
touch "$state/console.log"
mount --bind "$state/console.log" /dev/console
# cloud-init executes a part with a plain execve: a file without "#!" fails ("Exec format error")
# and does not run. bash's exec, like glibc's execvp, would run such a file with a shell instead.
exec /usr/bin/python3 -c 'import os, sys; os.execvp(sys.argv[1], sys.argv[1:])' "$@"
