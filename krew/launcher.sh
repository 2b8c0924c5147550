#!/bin/sh
# kubectl-gitops launcher, as krew installs it (template: scripts/build-krew-archive fills in the @…@ values).
#
# The archive carries kubectl-gitops and every dependency as wheels for CPython @PYTHONS@ on this platform.
# The first run creates a private virtual environment from those wheels, offline, under
#   ${XDG_CACHE_HOME:-~/.cache}/kubectl-gitops/krew/@VERSION@
# and every run then execs kubectl-gitops in it with the arguments unchanged, so its output and exit
# status are the tool's own. Setup progress goes to stderr only. KUBECTL_GITOPS_PYTHON picks the
# interpreter (default python3); PYTHON* variables and pip's configuration are ignored (-E, --isolated)
# so that nothing from the user's own Python setup leaks into the plugin.
set -u

version='@VERSION@'
package_version='@PACKAGE_VERSION@'
build='@BUILD@'
pythons='@PYTHONS@'
pip_wheel='@PIP_WHEEL@'

cache=${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-gitops/krew
venv=$cache/$version
marker=.kubectl-gitops-build

# The environment at $venv is this very build's and its interpreter is still there.
usable() {
    [ -f "$venv/$marker" ] && [ -x "$venv/bin/python" ] || return 1
    read -r have <"$venv/$marker" && [ "$have" = "$build" ]
}
if usable; then
    exec "$venv/bin/python" -E "$venv/bin/kubectl-gitops" "$@"
fi

say() { printf 'kubectl-gitops: %s\n' "$*" >&2; }
die() {
    say "$*"
    exit 2
}

# Where the wheels are: next to this file once symlinks (krew's bin/ link) are followed.
self=$0
while [ -L "$self" ]; do
    link=$(readlink "$self") || die "cannot read the link $self"
    case $link in
    /*) self=$link ;;
    *) self=$(dirname "$self")/$link ;;
    esac
done
here=$(cd "$(dirname "$self")" && pwd -P) || die "cannot find the directory of $0"
wheels=$here/wheels
[ -f "$wheels/$pip_wheel" ] || die "incomplete installation: $wheels/$pip_wheel is missing; reinstall with 'kubectl krew install gitops'"

python=${KUBECTL_GITOPS_PYTHON:-python3}
command -v "$python" >/dev/null 2>&1 ||
    die "needs Python >= 3.11 as '$python' on PATH (or set KUBECTL_GITOPS_PYTHON to a python3.11 … python3.14)"
found=$("$python" -E -c 'import sys; print(sys.implementation.name, "%d.%d" % sys.version_info[:2])') ||
    die "'$python' does not run"
impl=${found% *}
pyver=${found#* }
[ "$impl" = cpython ] || die "needs CPython; '$python' is $impl $pyver"
case " $pythons " in
*" $pyver "*) ;;
*) die "needs Python >= 3.11; this release carries wheels for CPython $pythons and '$python' is $pyver (set KUBECTL_GITOPS_PYTHON)" ;;
esac

start=$(date +%s)
say "first run of $version: setting up its Python $pyver environment in $venv (once, offline)"
mkdir -p "$cache" || die "cannot create $cache"
tmp=$(mktemp -d "$cache/.$version.XXXXXX") || die "cannot create a directory in $cache"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --without-pip: no ensurepip needed (Debian's python3 lacks it without python3-venv); pip runs from its wheel.
"$python" -E -m venv --without-pip "$tmp" >&2 || die "'$python -m venv' failed"
"$tmp/bin/python" -E "$wheels/$pip_wheel/pip" install --isolated --no-index --find-links "$wheels" --only-binary=:all: \
    --no-compile --disable-pip-version-check --no-warn-script-location --quiet \
    "kubectl-gitops==$package_version" >&2 ||
    die "installing the bundled wheels into $tmp failed (see above)"
printf '%s\n' "$build" >"$tmp/$marker" || die "cannot write $tmp/$marker"

# Publish atomically: a rename onto a path that exists fails, so concurrent first runs cannot mix.
rename() { "$tmp/bin/python" -E -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' "$1" "$2" 2>/dev/null; }
if [ -e "$venv" ] && ! usable; then # another build of this version, or its Python is gone: replace it
    old=$(mktemp -d "$cache/.$version.old.XXXXXX") && {
        rename "$venv" "$old/env"
        rm -rf "$old"
    }
fi
if rename "$tmp" "$venv"; then
    say "ready in $(($(date +%s) - start))s"
else # another first run may have finished first: then use its environment
    usable || die "cannot move the new environment to $venv"
fi
rm -rf "$tmp"
trap - EXIT INT TERM
exec "$venv/bin/python" -E "$venv/bin/kubectl-gitops" "$@"
