#!/usr/bin/env bash
# Print a Mosquitto configuration for a private broker: scripts/mosquitto-conf.sh HOME PORT [EXTRA]
# Zero-loss settings: QoS 1 queues for offline persistent sessions are unbounded (the default
# 1000 silently drops the rest) and the store is persisted so a broker restart keeps them.
# A graceful stop always saves the store; the periodic save rewrites the whole store, so a
# short interval stalls the broker once queues grow (seen: delivery fell to a few msgs/s).
# With HOME/services.passwd (and SERVICES_PORT, default PORT+1) the broker runs the
# production split of deploy/mosquitto.conf: PORT is the device listener (devices.passwd,
# devices.acl, client id = user name, so a device password cannot take over another
# client's session) and SERVICES_PORT the services' own listener (services.passwd/acl).
set -euo pipefail
home="$1"; port="$2"; extra="${3:-}"; services_port="${4:-$((port + 1))}"
user_line=""
[ "$(id -u)" -eq 0 ] && user_line="user root"
split=""
[ -f "$home/services.passwd" ] && split=1
cat <<CONF
$user_line
pid_file $home/mosquitto.pid
${split:+per_listener_settings true}
listener $port 127.0.0.1
persistence true
persistence_location $home/data/
autosave_interval 60
log_dest file $home/mosquitto.log
log_type error
log_type warning
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 100
max_packet_size 16777216
CONF
if [ -n "$split" ]; then
  touch "$home/devices.passwd" "$home/devices.acl"
  cat <<CONF
allow_anonymous false
password_file $home/devices.passwd
acl_file $home/devices.acl
use_username_as_clientid true
listener $services_port 127.0.0.1
allow_anonymous false
password_file $home/services.passwd
acl_file $home/services.acl
CONF
elif [ -f "$home/passwd" ]; then
  echo "allow_anonymous false"
  echo "password_file $home/passwd"
  [ -f "$home/acl" ] && echo "acl_file $home/acl"
else
  echo "allow_anonymous true"
fi
[ -n "$extra" ] && printf '%s\n' "$extra"
exit 0
