# Shared shell helpers for Forewarn's scripts (sourced, not run).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="${FOREWARN_RUN_DIR:-$ROOT/.run}"
PG_VERSION="${FOREWARN_PG_VERSION:-15}"
PG_PORT="${FOREWARN_PG_PORT:-54329}"
MQTT_PORT="${FOREWARN_MQTT_PORT:-18839}"
PG_BIN="/usr/lib/postgresql/$PG_VERSION/bin"
VENV="${FOREWARN_VENV:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3}"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# PostgreSQL refuses to run as root: run the private cluster as `postgres` when we are root.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
