# Sourced by scripts/demo and scripts/test: install what is missing, idempotently.
# System packages (Mosquitto, InfluxDB 1.x, VictoriaMetrics) come from apt; Python deps go into .venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '\033[1manxin setup:\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else say "need root to run: $*  (install sudo or run these as root)"; return 1
  fi
}

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null || { say "apt-get not found: install $* by hand"; return 1; }
  if [ "$APT_UPDATED" = 0 ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  say "installing $* with apt-get"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

need_packages() {  # pairs of "binary:package"; a binary may be an absolute path (a glob) that must exist
  local missing=()
  for pair in "$@"; do
    local bin="${pair%%:*}" pkg="${pair##*:}"
    if [ "${bin:0:1}" = / ]; then
      compgen -G "$bin" >/dev/null || missing+=("$pkg")
    else
      command -v "$bin" >/dev/null || [ -x "/usr/sbin/$bin" ] || missing+=("$pkg")
    fi
  done
  if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
}

pick_python() {
  for py in python3.13 python3.12 python3.11 python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      echo "$py"; return 0
    fi
  done
  say "Python 3.11 or newer is required"; return 1
}

ensure_venv() {  # $1: extras to install
  local py stamp want
  py="$(pick_python)"
  if [ ! -x .venv/bin/python ]; then
    say "creating .venv with $py"
    "$py" -m venv .venv 2>/dev/null || { apt_install python3-venv && "$py" -m venv .venv; }
  fi
  want="$(cat pyproject.toml | sha256sum | cut -c1-16)-$1"
  stamp=".venv/.anxin-installed"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing Python dependencies (.[$1]) into .venv"
    .venv/bin/python -m pip install -q --disable-pip-version-check -U pip >/dev/null
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$1]"
    echo "$want" > "$stamp"
  fi
}
