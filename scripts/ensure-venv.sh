#!/usr/bin/env bash
# Create the virtualenv, installing Debian's python3-venv first when the interpreter lacks it.
set -euo pipefail
python="$1"; venv="$2"
[ -x "$venv/bin/python" ] && exit 0
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "XTRACKER needs Python 3.11 or newer as '$python' (set PYTHON=/path/to/python3.11)" >&2; exit 1
fi
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
