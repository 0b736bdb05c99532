#!/usr/bin/env bash
# Ensures a Debian 13 (trixie) root in the cache with rabbitmq-server 4.0
# (Erlang 27) installed, for running RabbitMQ 4.0 beside the host's 3.10
# with chroot. Made once with debootstrap from the Debian mirror apt already
# uses; built in a scratch directory and renamed when complete, so a run
# cut short never leaves a half root that looks ready.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

root="$DLQ_CACHE/debian13"
[ -x "$root/usr/lib/rabbitmq/bin/rabbitmq-server" ] && exit 0

command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
mirror=$(debian_mirror)
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

scratch="$root.partial"
rm -rf "$scratch"
log "debootstrap trixie into $root from $mirror (first run only)"
start=$SECONDS
debootstrap --variant=minbase --keyring="$keyring" trixie "$scratch" "$mirror" >"$DLQ_CACHE/debian13-debootstrap.log" 2>&1 \
  || { tail -30 "$DLQ_CACHE/debian13-debootstrap.log" >&2; exit 1; }
# No service starts inside the root while packages install.
printf '#!/bin/sh\nexit 101\n' >"$scratch/usr/sbin/policy-rc.d"
chmod +x "$scratch/usr/sbin/policy-rc.d"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$scratch/etc/hosts"
chroot "$scratch" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  rabbitmq-server >>"$DLQ_CACHE/debian13-debootstrap.log" 2>&1 \
  || { tail -30 "$DLQ_CACHE/debian13-debootstrap.log" >&2; exit 1; }
chroot "$scratch" apt-get clean
mv "$scratch" "$root"
log "debian13 root ready in $((SECONDS - start))s: $(chroot "$root" dpkg-query -W -f '${Package} ${Version}' rabbitmq-server)"
