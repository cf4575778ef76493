#!/usr/bin/env bash
# Installs the Debian packages the tests drive for real, when they are missing: cloud-init's parser,
# iptables(-restore), shellcheck, iproute2 and curl for the namespace suite, Docker (dockerd,
# containerd, runc) and a static busybox for its containers' image, systemd-analyze for unit files. Runs before `npm test` (its pretest script). Without root or apt-get it only says what is
# missing and how to get it: the suites that need a tool then skip with that reason (or fail in CI).
set -euo pipefail

missing=()
command -v iptables-restore >/dev/null || missing+=(iptables)
command -v shellcheck >/dev/null || missing+=(shellcheck)
command -v ip >/dev/null || missing+=(iproute2)
command -v curl >/dev/null || missing+=(curl)
command -v systemd-analyze >/dev/null || missing+=(systemd)
# Debian's Docker 20.10 (the suite starts dockerd and containerd itself; no service is enabled).
{ command -v dockerd && command -v containerd && [ -x /usr/bin/docker ]; } >/dev/null || missing+=(docker.io)
# The image is busybox alone: it must be the statically linked build.
{ [ -x /bin/busybox ] && ! ldd /bin/busybox; } >/dev/null 2>&1 || missing+=(busybox-static)
/usr/bin/python3 -c "from cloudinit import user_data" 2>/dev/null || missing+=(cloud-init)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "test tools missing: ${missing[*]}; as root on Debian: apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 0
fi
echo "installing Debian packages the tests need: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# docker.io's install would start a system dockerd, which writes the machine's own firewall: the
# suite starts its own engines inside its namespaces. policy-rc.d forbids service starts meanwhile.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
