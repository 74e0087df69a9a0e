#!/usr/bin/env bash
# Build TimescaleDB (Apache-licensed part) for the local PostgreSQL from Debian's source
# package of a newer release. A private apt configuration keeps the system's sources untouched;
# the unpacked, built tree is cached under $FOREWARN_CACHE so a rebuild only reinstalls.
source "$(dirname "$0")/lib.sh"

CACHE="${FOREWARN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/forewarn}"
SUITE="${FOREWARN_TIMESCALEDB_SUITE:-trixie}"
APT_DIR="$CACHE/apt"
SRC_DIR="$CACHE/timescaledb-src"
PG_CONFIG="$PG_BIN/pg_config"

if [ ! -f "$SRC_DIR/build/Makefile" ]; then
  say "building TimescaleDB from Debian $SUITE's source package (about a minute)"
  mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/dl"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main" \
    > "$APT_DIR/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$APT_DIR/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Cache=$APT_DIR/cache" -o "Debug::NoLocking=1"
    -o "APT::Sandbox::User=root")
  apt-get "${apt_opts[@]}" update -qq
  (cd "$APT_DIR/dl" && rm -f ./*.dsc ./*.tar.* && apt-get "${apt_opts[@]}" source --download-only -qq timescaledb)
  rm -rf "$SRC_DIR"
  dpkg-source --no-check -x "$APT_DIR"/dl/timescaledb_*.dsc "$SRC_DIR" >/dev/null
  (cd "$SRC_DIR" && ./bootstrap -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
    -DWARNINGS_AS_ERRORS=OFF -DSEND_TELEMETRY_DEFAULT=OFF -DPG_CONFIG="$PG_CONFIG" >"$CACHE/bootstrap.log" 2>&1) \
    || die "TimescaleDB bootstrap failed; see $CACHE/bootstrap.log"
  (cd "$SRC_DIR/build" && make -j"$(nproc)" >"$CACHE/make.log" 2>&1) \
    || die "TimescaleDB build failed; see $CACHE/make.log"
fi
say "installing TimescaleDB into $("$PG_CONFIG" --pkglibdir)"
(cd "$SRC_DIR/build" && as_root make install >"$CACHE/install.log" 2>&1) \
  || die "TimescaleDB install failed; see $CACHE/install.log"
