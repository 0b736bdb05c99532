# Shared by the broker scripts: where caches live, and waiting for a port.
DLQ_CACHE="${DLQ_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dlq-test}"
mkdir -p "$DLQ_CACHE"

log() { printf '[brokers] %s\n' "$*" >&2; }

# port_open HOST PORT: true when something accepts connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_port NAME HOST PORT SECONDS
wait_port() {
  local name=$1 host=$2 port=$3 secs=${4:-60} i
  for ((i = 0; i < secs * 5; i++)); do
    port_open "$host" "$port" && return 0
    sleep 0.2
  done
  log "$name did not open $host:$port within ${secs}s"
  return 1
}

# apt_install PKG...: installs Debian packages when missing.
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# debian_mirror: the Debian mirror the host's apt sources use (deb822 or
# one-line), else Debian's own.
debian_mirror() {
  local m
  m=$(grep -hoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | head -1 | tr -d ' ' || true)
  echo "${m:-http://deb.debian.org/debian}"
}

# pid_alive PIDFILE: true when the process the file names still runs.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pid PIDFILE HOST PORT: ends the process the file names (by its PID)
# and waits for the port to close.
stop_pid() {
  local i
  if [ -f "$1" ]; then
    kill "$(cat "$1")" 2>/dev/null || true
    rm -f "$1"
  fi
  for i in $(seq 1 100); do port_open "$2" "$3" || return 0; sleep 0.1; done
}
