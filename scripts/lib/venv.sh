# Sourced by the scripts that need Python tools: `ensure_venv NAME` creates (or refreshes)
# the project-local virtualenv $VENV_DIR/NAME from scripts/requirements-NAME.txt when it is
# missing or its pinned versions changed.
VENV_DIR="${OPSLAKE_VENV_DIR:-$PWD/.venv}"

ensure_venv() {
    local name=$1 req="scripts/requirements-$1.txt"
    local venv="$VENV_DIR/$name"
    if [[ -f "$venv/.installed" ]] && cmp -s "$req" "$venv/.installed"; then
        return
    fi
    echo "installing $name tools into $venv (pinned in $req)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    cp "$req" "$venv/.installed"
}
