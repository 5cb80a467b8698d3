#!/usr/bin/env bash
# Installs the Debian packages named (the callers choose which are missing), as root or
# through sudo. Says what it installs and lets apt show its progress: on a fresh machine
# this takes minutes, and a silent terminal looks like a hang.
set -euo pipefail
[ $# -gt 0 ] || exit 0
echo "blackbox: installing Debian packages: $*"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "$@"
echo "blackbox: installed $*"
