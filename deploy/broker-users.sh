#!/bin/sh
# The broker's users, for docker-compose (runs in the eclipse-mosquitto image).
#   (no arguments)            the one-shot `broker-users` service: the services' and the
#                             simulator's users from the passwords in .env (with
#                             INGEST_SPARKPLUG=true, services-sparkplug.acl: ingest may
#                             read Sparkplug B; edge nodes: forewarn gateway
#                             sparkplug-credentials, see docs/security.md)
#   gateway GATEWAY SITE      add a gateway: GATEWAY_PASSWORD=... docker compose run --rm
#                             -e GATEWAY_PASSWORD broker-users gateway gw-north-1 north
#                             then: docker compose kill -s HUP mosquitto
# Passwords go to mosquitto_passwd on stdin, never on a command line. The ACL rules are
# those of gateway/credentials.py (tests/unit/test_compose.py keeps them equal).
set -eu
auth="${FOREWARN_AUTH_DIR:-/mosquitto/auth}"
deploy="${FOREWARN_DEPLOY_DIR:-/deploy}"
umask 077
die() { echo "broker-users: $*" >&2; exit 1; }
add() {  # add FILE USER PASSWORD
  [ -n "$3" ] || die "no password for $2 (see .env.example)"
  printf '%s\n%s\n' "$3" "$3" | mosquitto_passwd "$1" "$2" >/dev/null
}
check_id() {  # a topic level and a user name: 1-64 of A-Z a-z 0-9 _ . -, alphanumeric first
  case "$1" in
    "" | [!A-Za-z0-9]* | *[!A-Za-z0-9_.-]*) die "invalid $2 '$1'" ;;
  esac
  [ "${#1}" -le 64 ] || die "$2 '$1' is longer than 64"
}
touch "$auth/devices.passwd" "$auth/devices.acl"
if [ "${1:-}" = gateway ]; then
  gw="${2:-}"; site="${3:-}"
  check_id "$gw" gateway
  check_id "$site" site
  case "$gw" in
    forewarn-* | ingest | detectors | ticketing | sim) die "'$gw' is reserved for services" ;;
  esac
  add "$auth/devices.passwd" "$gw" "${GATEWAY_PASSWORD:-}"
  if grep -q "^user $gw\$" "$auth/devices.acl"; then
    echo "broker-users: $gw already has ACL rules (password updated; edit devices.acl to move it)"
  else
    printf '\n# forewarn gateway %s, site %s\nuser %s\n' "$gw" "$site" "$gw" >> "$auth/devices.acl"
    printf 'topic write forewarn/v1/%s/+/telemetry\n' "$site" >> "$auth/devices.acl"
    printf 'topic write forewarn/v1/%s/gateways/%s/status\n' "$site" "$gw" >> "$auth/devices.acl"
  fi
else
  rm -f "$auth/services.passwd.new"
  touch "$auth/services.passwd.new"
  add "$auth/services.passwd.new" ingest "${INGEST_MQTT_PASSWORD:-}"
  add "$auth/services.passwd.new" detectors "${DETECTORS_MQTT_PASSWORD:-}"
  add "$auth/services.passwd.new" ticketing "${TICKETING_MQTT_PASSWORD:-}"
  mv "$auth/services.passwd.new" "$auth/services.passwd"
  acl=services.acl  # INGEST_SPARKPLUG=true: ingest's Sparkplug intake rules too
  [ "${INGEST_SPARKPLUG:-}" = true ] && acl=services-sparkplug.acl
  cp "$deploy/$acl" "$auth/services.acl"
  add "$auth/devices.passwd" sim "${SIM_MQTT_PASSWORD:-}"
  grep -q '^user sim$' "$auth/devices.acl" || cat "$deploy/sim.acl" >> "$auth/devices.acl"
fi
chown -R mosquitto:mosquitto "$auth" 2>/dev/null || true
echo "broker-users: users written to $auth"
