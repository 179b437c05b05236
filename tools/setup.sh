#!/usr/bin/env bash
# Idempotent set-up for gaitlink on Debian 12, Ubuntu or Raspberry Pi OS.
# Installs what is missing, and nothing else: the Debian packages mosquitto and influxdb
# (apt-get, with sudo when not root), a virtual environment in .venv, and the project
# with its dev extra. A second run checks and returns in a second or two.
# Sourced by tools/demo.sh and tools/test.sh; run it alone to only set up.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"

say() { printf 'setup: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    say "need root to run: $*"
    say "run this script as root once, or install sudo (as root: apt-get install sudo)"
    exit 1
  fi
}

need_python() {
  if ! command -v python3 >/dev/null; then
    say "python3 is not installed; install it first (sudo apt-get install python3)"; exit 1
  fi
  if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    say "gaitlink needs Python >= 3.11; this is $(python3 -V). Debian 12 and Raspberry Pi OS 12 have 3.11."
    exit 1
  fi
}

apt_missing() {
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
  done
}

install_debian_packages() {
  # influxdb-client is Debian's name for the 1.x `influx` shell, which researchers use.
  local wanted=(mosquitto influxdb influxdb-client)
  # tests/ui drive the browser UI in Debian's chromium (with Playwright, never its downloads).
  wanted+=(chromium)
  # venv needs ensurepip, which Debian ships separately as python3-venv.
  python3 -c 'import ensurepip' 2>/dev/null || wanted+=("python3-venv")
  # `gaitlink gait|ingest build` (below) compile C: a compiler and this Python's headers.
  command -v cc >/dev/null || wanted+=(gcc)
  python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' ||
    wanted+=("python3-dev")
  mapfile -t missing < <(apt_missing "${wanted[@]}")
  if [ "${#missing[@]}" -eq 0 ]; then return 0; fi
  if ! command -v apt-get >/dev/null; then
    say "missing ${missing[*]} and this system has no apt-get: install them by hand"; exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  # The packages start system services on 1883/8086 where systemd runs; gaitlink's own
  # stack uses other ports (docs/stack.md), so the two never collide.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_python_env() {
  # A venv whose python no longer runs (interrupted creation, upgraded system python)
  # is made again rather than patched.
  if ! "$venv/bin/python" -c 'import sys' 2>/dev/null || [ ! -x "$venv/bin/pip" ]; then
    say "creating $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  local stamp="$venv/.gaitlink-installed"
  local want
  want="$(sha256sum < "$root/pyproject.toml" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  say "installing gaitlink and its dev dependencies into $venv (a few minutes the first time)"
  local log="$venv/pip-install.log"
  # pip's build chatter goes to a log, shown only if the install fails.
  if ! { "$venv/bin/python" -m pip install --upgrade pip &&
         "$venv/bin/python" -m pip install -e "$root[dev]"; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    say "pip install failed; the full log is $log"
    exit 1
  fi
  echo "$want" > "$stamp"
}

build_kernels() {
  # The gait kernels and the ingest's line encoder compiled ahead of time, so the ingest
  # runs without numba in memory (cloud/aot.py). Each returns at once when a build of the
  # current sources is there.
  for room in gait ingest; do
    if ! "$venv/bin/gaitlink" "$room" build >/dev/null; then
      say "compiling the $room kernels failed (see above)"; exit 1
    fi
  done
}

need_python
install_debian_packages
install_python_env
build_kernels
export PATH="$venv/bin:$PATH"
