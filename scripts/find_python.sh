# Sourced by scripts/bootstrap.sh and scripts/check_installed.sh.
find_python() {  # find_python 3.10 -> a working interpreter path
  local v="$1" c
  for c in "python$v" "${PYENV_ROOT:-${HOME:-/root}/.pyenv}/versions/$v"*/bin/"python$v" /root/.pyenv/versions/"$v"*/bin/"python$v" \
           /usr/local/bin/"python$v" /usr/bin/"python$v"; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$v'.split('.')))" 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    c="$(pyenv root)/versions/$(pyenv versions --bare | grep -E "^$v(\.|$)" | tail -n1)/bin/python$v"
    [ -x "$c" ] && { echo "$c"; return 0; }
  fi
  echo "error: Python $v not found (tried python$v on PATH and pyenv). Install it, e.g. 'pyenv install $v'." >&2
  return 1
}
