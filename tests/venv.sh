# Sourced by the checkers under tests/: `venv DIR REQUIREMENTS` makes a Python virtualenv in DIR
# (once) and installs REQUIREMENTS into it (pinned versions), then builds the binary.
venv() {
  if [ ! -x "$1/bin/python" ]; then
    python3 -m venv "$1"
  fi
  "$1/bin/pip" install --quiet --disable-pip-version-check -r "$2"
  cargo build --quiet --bin whoot-mgmt
}
