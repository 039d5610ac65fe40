#!/usr/bin/env bash
# Create a fresh virtualenv for one lock file (make calls this when the lock is newer than the
# venv's stamp): the old venv is removed so no package outside the lock survives, and the
# setuptools/wheel that `python -m venv` may seed are removed unless the lock pins them.
# Installs Debian's python3-venv first when the interpreter lacks the venv module.
# Usage: ensure-venv.sh PYTHON VENV [LOCK]
set -euo pipefail
python="$1"; venv="$2"; lock="${3:-}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "XTRACKER needs Python 3.11 or newer as '$python' (set PYTHON=/path/to/python3.11)" >&2; exit 1
fi
if [ -n "$lock" ] || [ ! -x "$venv/bin/python" ]; then
  rm -rf "$venv"
  if ! "$python" -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      ver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      echo "installing python3-venv" >&2
      DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "python${ver}-venv" >/dev/null 2>&1 \
        || DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null
      "$python" -m venv "$venv"
    else
      echo "cannot create a virtualenv: install it with: sudo apt-get install -y python3-venv" >&2; exit 1
    fi
  fi
fi
if [ -n "$lock" ]; then
  for seeded in setuptools wheel; do
    if "$venv/bin/pip" show -q "$seeded" >/dev/null 2>&1 && ! grep -qi "^$seeded==" "$lock"; then
      "$venv/bin/pip" uninstall --disable-pip-version-check -q -y "$seeded"
    fi
  done
fi
