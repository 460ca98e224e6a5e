# Sourced by the scripts: make `uv` available (pip-installs it when missing).
if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check "uv>=0.9,<1"
  uv() { python3 -m uv "$@"; }
fi
