# Sourced by the scripts: make `uv` available without touching the system Python, and
# define sync_workspace, the one command that syncs the scripts' environment.
# A `uv` on PATH is used as it is; otherwise uv is pip-installed once into a private
# virtual environment, HIGHWAY_UV_VENV (default: .tools/uv-venv in the repository),
# whose bin directory then goes at the end of PATH (so `python3` stays the system's).
if ! command -v uv >/dev/null 2>&1; then
  _uv_venv="${HIGHWAY_UV_VENV:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools/uv-venv}"
  if [ ! -x "$_uv_venv/bin/uv" ]; then
    python3 -m venv "$_uv_venv" || {
      echo "scripts/uv.sh: 'python3 -m venv' failed (on Debian: apt-get install python3-venv)" >&2
      return 1
    }
    "$_uv_venv/bin/python" -m pip install --quiet --disable-pip-version-check "uv>=0.9,<1" || return 1
  fi
  export PATH="$PATH:$_uv_venv/bin"
  unset _uv_venv
fi

# The workspace's environment (core, every plugin, the dev tools) as uv.lock pins it.
# --locked: fail if uv.lock no longer matches the pyproject.toml files; every locked package
# is put back at its locked version. --inexact: distributions the lock does not name (a
# third-party plugin installed with `uv pip install --python .venv`) stay installed.
sync_workspace() { uv sync --all-packages --locked --inexact --quiet "$@"; }
