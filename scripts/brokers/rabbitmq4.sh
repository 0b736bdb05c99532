#!/usr/bin/env bash
# Ensures RabbitMQ 4.0 (Debian 13's, Erlang 27) answers on 127.0.0.1:5673
# (AMQP) and :15673 (management), beside the host's 3.10 on 5672/15672.
# It runs with chroot in the Debian 13 root debian13.sh makes, in a private
# mount namespace (its /proc and /dev mounts vanish with it), with its own
# node name, distribution port and epmd port so nothing clashes with 3.10.
# Every listener is on loopback; guest may log in from there (the default).
# `rabbitmq4.sh restart` stops the running one first; `rabbitmq4.sh ctl
# ARGS` runs its rabbitmqctl.
set -euo pipefail
here=$(dirname "$0")
. "$here/lib.sh"

amqp=5673 mgmt=15673
root="$DLQ_CACHE/debian13"
bash "$here/debian13.sh"
command -v curl >/dev/null 2>&1 || apt_install curl

# The node's environment, for the server and its CLI tools alike.
node_env=(HOME=/var/lib/rabbitmq RABBITMQ_NODENAME=rabbit4@localhost ERL_EPMD_PORT=4370
  ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_DIST_PORT=25673
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}")
ctl() { chroot "$root" env "${node_env[@]}" /usr/lib/rabbitmq/bin/rabbitmqctl "$@"; }
if [ "${1:-}" = "ctl" ]; then shift; ctl "$@"; exit; fi

cat >"$root/etc/rabbitmq/rabbitmq.conf" <<CONF
listeners.tcp.local = 127.0.0.1:$amqp
management.tcp.ip = 127.0.0.1
management.tcp.port = $mgmt
CONF
echo '[rabbitmq_management,rabbitmq_shovel,rabbitmq_shovel_management].' >"$root/etc/rabbitmq/enabled_plugins"

pidfile="$DLQ_CACHE/rabbitmq4.pid"
if [ "${1:-}" = "restart" ] && port_open 127.0.0.1 $amqp; then
  ctl -q stop >/dev/null 2>&1 || true
  stop_pid "$pidfile" 127.0.0.1 $amqp
fi
if ! port_open 127.0.0.1 $amqp; then
  log "starting rabbitmq-server 4.0 on 127.0.0.1:$amqp (root $root)"
  nohup unshare --mount --propagation private -- /bin/sh -c '
    mount -t proc proc "$1/proc" && mount --bind /dev "$1/dev" && shift && exec chroot "$@"' \
    sh "$root" "$root" env "${node_env[@]}" RABBITMQ_LOGS=- /usr/lib/rabbitmq/bin/rabbitmq-server \
    >"$DLQ_CACHE/rabbitmq4.log" 2>&1 &
  echo $! >"$pidfile"
fi
wait_port rabbitmq-4.0 127.0.0.1 $amqp 180
wait_port rabbitmq-4.0-management 127.0.0.1 $mgmt 60
for i in $(seq 1 100); do
  curl -fsS -u guest:guest http://127.0.0.1:$mgmt/api/overview >/dev/null 2>&1 && exit 0
  sleep 0.3
done
log "rabbitmq 4.0 management API does not answer"
exit 1
