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

# `ensure_npm NAME` installs the npm packages pinned in scripts/npm-NAME.txt (`package@version`,
# one a line) into $VENV_DIR/NAME when missing or when the pins changed. Peer dependencies are
# not installed: the tests use the packages' files, not their JavaScript.
ensure_npm() {
    local name=$1 req="scripts/npm-$1.txt"
    local dir="$VENV_DIR/$name"
    if [[ -f "$dir/.installed" ]] && cmp -s "$req" "$dir/.installed"; then
        return
    fi
    if ! command -v npm >/dev/null; then
        echo "npm is needed for the $name tools (Debian: apt-get install npm)" >&2
        return 1
    fi
    echo "installing $name into $dir (pinned in $req)" >&2
    mkdir -p "$dir"
    # shellcheck disable=SC2046
    npm install --prefix "$dir" --no-save --no-audit --no-fund --ignore-scripts --legacy-peer-deps \
        --loglevel error $(grep -v '^#' "$req")
    cp "$req" "$dir/.installed"
}

# `ensure_apt PACKAGE...` installs the Debian packages the tests need (Chromium for the page
# tests, a Japanese font for their screenshots) when one is missing: as root, or through
# password-less sudo; otherwise it fails and says which to install.
ensure_apt() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            sudo=(sudo)
        else
            echo "the tests need these Debian packages: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
            return 1
        fi
    fi
    echo "installing Debian packages: ${missing[*]}" >&2
    local install=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends)
    "${install[@]}" "${missing[@]}" >/dev/null \
        || { "${sudo[@]}" apt-get update -qq && "${install[@]}" "${missing[@]}" >/dev/null; }
}
