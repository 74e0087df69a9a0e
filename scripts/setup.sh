#!/usr/bin/env bash
# Install what Forewarn needs on a Debian machine; idempotent and quick when all is there.
#   system packages (apt): PostgreSQL 15 + server headers, Mosquitto, build tools
#   TimescaleDB (Apache edition) built from Debian's source package when not installable
#   a Python virtual environment with the project and its dev tools
source "$(dirname "$0")/lib.sh"

APT_PACKAGES=(postgresql-$PG_VERSION postgresql-server-dev-$PG_VERSION postgresql-client-$PG_VERSION
  mosquitto mosquitto-clients cmake gcc make dpkg-dev xz-utils)
# Debian's Chromium drives the console's browser tests (Playwright cannot download a browser here).
[ "${FOREWARN_BROWSER:-1}" = 1 ] && APT_PACKAGES+=(chromium)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing system packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  # Debian starts a system-wide broker and cluster on install; ours are private, so leave theirs be.
fi

PG_CONFIG="$PG_BIN/pg_config"
EXT_DIR="$("$PG_CONFIG" --sharedir)/extension"
if [ ! -f "$EXT_DIR/timescaledb.control" ]; then
  "$ROOT/scripts/build-timescaledb.sh"
fi

stamp="$VENV/.forewarn-installed"
want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtual environment $VENV"
  "$PYTHON_BIN" -m venv "$VENV"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Python packages (pip)"
  "$VENV/bin/pip" install -q --disable-pip-version-check -e "$ROOT[dev]"
  echo "$want" > "$stamp"
fi
say "setup complete"
