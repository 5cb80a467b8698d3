#!/usr/bin/env bash
# Installs the Debian packages named (the callers choose which are missing), as root or
# through sudo.
set -euo pipefail
[ $# -gt 0 ] || exit 0
echo "installing: $*"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
