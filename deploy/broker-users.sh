#!/bin/sh
# One-shot (docker-compose `broker-users`): write the broker's password and ACL files from
# the passwords in .env. Passwords go to mosquitto_passwd on stdin, never on a command line.
# Gateways are added to devices.passwd/devices.acl with `forewarn gateway credentials`
# (entries already there are kept).
set -eu
auth=/mosquitto/auth
umask 077
add() {  # add FILE USER PASSWORD
  [ -n "$3" ] || { echo "broker-users: no password for $2 (see .env.example)" >&2; exit 1; }
  printf '%s\n%s\n' "$3" "$3" | mosquitto_passwd "$1" "$2" >/dev/null
}
touch "$auth/services.passwd.new" "$auth/devices.passwd" "$auth/devices.acl"
add "$auth/services.passwd.new" ingest "${INGEST_MQTT_PASSWORD:-}"
add "$auth/services.passwd.new" detectors "${DETECTORS_MQTT_PASSWORD:-}"
add "$auth/services.passwd.new" ticketing "${TICKETING_MQTT_PASSWORD:-}"
mv "$auth/services.passwd.new" "$auth/services.passwd"
cp /deploy/services.acl "$auth/services.acl"
add "$auth/devices.passwd" sim "${SIM_MQTT_PASSWORD:-}"
grep -q '^user sim$' "$auth/devices.acl" || cat /deploy/sim.acl >> "$auth/devices.acl"
chown -R mosquitto:mosquitto "$auth" 2>/dev/null || true
echo "broker-users: services and sim users written to $auth"
