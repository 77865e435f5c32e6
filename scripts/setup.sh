#!/usr/bin/env bash
# Installs the Debian packages storyloom builds with, on a machine that has never seen it.
set -euo pipefail
packages=(build-essential cmake ninja-build pkg-config libsqlitecpp-dev libsqlite3-dev
  libboost-json1.81-dev libboost1.81-dev libgtest-dev libcurl4-openssl-dev libssl-dev python3-dev
  python3-venv chromium libzip-dev libcairo2-dev libpango1.0-dev epubcheck poppler-utils
  libpq-dev postgresql-15)  # libpq: the PostgreSQL store; the server: its tests
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
