#!/bin/sh
# Install the shopfloor-sync edge agent from this offline bundle (built by `sfsync edge bundle`).
# Needs: Python @PYTHON_VERSION@ with the venv module (Debian/Ubuntu: apt install python3-venv).
# No network access is used: pip installs with --no-index from ./wheels only.
#
#   sudo ./install.sh                 # venv in /opt/sfsync/.venv, unit + config in /etc, service enabled
#   ./install.sh --prefix DIR --no-systemd   # just the venv (any user), e.g. to try it out
#
# Environment: PYTHON (default python3@PYTHON_VERSION@ if present, else python3).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=/opt/sfsync
SYSTEMD=yes
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX=$2; shift 2 ;;
        --prefix=*) PREFIX=${1#--prefix=}; shift ;;
        --no-systemd) SYSTEMD=no; shift ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ -z "${PYTHON:-}" ]; then
    if command -v python@PYTHON_VERSION@ >/dev/null 2>&1; then PYTHON=python@PYTHON_VERSION@; else PYTHON=python3; fi
fi
have=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || {
    echo "install.sh: $PYTHON does not run; install Python @PYTHON_VERSION@ (or set PYTHON=...)" >&2; exit 2; }
if [ "$have" != "@PYTHON_VERSION@" ]; then
    echo "install.sh: this bundle is for Python @PYTHON_VERSION@ but $PYTHON is $have: set PYTHON=... or build a bundle with --python-version $have" >&2
    exit 2
fi

if command -v sha256sum >/dev/null 2>&1; then
    (cd "$HERE" && sha256sum --quiet -c SHA256SUMS) || { echo "install.sh: checksums do not match: the bundle is damaged" >&2; exit 2; }
fi

echo "install.sh: creating $PREFIX/.venv"
"$PYTHON" -m venv "$PREFIX/.venv"
"$PREFIX/.venv/bin/python" -m pip install --quiet --no-index --find-links "$HERE/wheels" \
    "shopfloor-sync[edge]==@VERSION@"
"$PREFIX/.venv/bin/sfsync" --version

if [ "$SYSTEMD" = yes ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install.sh: not root: skipping the systemd unit and /etc/sfsync (run with sudo, or pass --no-systemd)" >&2
        exit 0
    fi
    if [ "$PREFIX" != /opt/sfsync ]; then
        sed "s#/opt/sfsync/.venv#$PREFIX/.venv#g" "$HERE/sfsync-edge.service" > /etc/systemd/system/sfsync-edge.service
    else
        cp "$HERE/sfsync-edge.service" /etc/systemd/system/sfsync-edge.service
    fi
    install -d -m 0755 /etc/sfsync
    if [ ! -e /etc/sfsync/edge.toml ]; then
        install -m 0644 "$HERE/edge.toml" /etc/sfsync/edge.toml
        echo "install.sh: wrote /etc/sfsync/edge.toml: edit it (sfsync edge browse / scan / probe help), then"
        echo "            systemctl enable --now sfsync-edge"
    else
        echo "install.sh: kept the existing /etc/sfsync/edge.toml"
    fi
    systemctl daemon-reload
    echo "install.sh: unit installed; start with: systemctl enable --now sfsync-edge"
fi
