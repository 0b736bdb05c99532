#!/usr/bin/env bash
# Ensures nats-server 2.10 (Debian 13's, a static binary) with JetStream
# answers on 127.0.0.1:4223, beside the host's 2.9 on 4222. The .deb comes
# from trixie through a private apt directory in the cache (the host's apt
# setup is untouched) and is unpacked with dpkg-deb.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

port=4223
dir="$DLQ_CACHE/nats210"
bin="$dir/root/usr/sbin/nats-server"
if [ ! -x "$bin" ]; then
  apt="$dir/apt"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/deb"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) trixie main" >"$apt/sources.list"
  opts=(-o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
    -o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  log "downloading nats-server from Debian 13 into $dir (first run only)"
  apt-get "${opts[@]}" update -qq >/dev/null
  (cd "$apt/deb" && rm -f ./*.deb && apt-get "${opts[@]}" download nats-server >/dev/null)
  rm -rf "$dir/root"
  dpkg-deb -x "$apt/deb"/nats-server_*.deb "$dir/root"
fi
pidfile="$DLQ_CACHE/nats210.pid"
[ "${1:-}" = "restart" ] && stop_pid "$pidfile" 127.0.0.1 $port
if ! port_open 127.0.0.1 $port; then
  store="$DLQ_CACHE/nats210-store"
  mkdir -p "$store"
  log "starting $("$bin" --version) -js on 127.0.0.1:$port (store $store)"
  nohup "$bin" -a 127.0.0.1 -p $port -js -sd "$store" >"$DLQ_CACHE/nats210.log" 2>&1 &
  echo $! >"$pidfile"
fi
wait_port nats-2.10 127.0.0.1 $port 60
