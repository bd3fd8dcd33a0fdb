#!/usr/bin/env bash
# Newer OTP releases for compatibility tests, as minimal Debian chroots (run as root).
#
#   tests/otp-chroot.sh build DIR SUITE RELEASE [MIRROR]   debootstrap SUITE with erlang-base into DIR
#   tests/otp-chroot.sh remove DIR                          delete DIR (and DIR.tmp)
#
# `build` works in DIR.tmp and renames it to DIR only once the chroot runs `erl` and reports
# otp_release RELEASE, so DIR exists only when complete. An interrupted run leaves DIR.tmp
# behind, which the next run deletes and redoes. Nodes in the chroot share the host's loopback
# and EPMD; the host's /etc/hosts is copied in so that the short host name resolves.
set -euo pipefail

die() { echo "otp-chroot: $*" >&2; exit 1; }

# debootstrap mounts /proc (and more) inside the target; an interrupted run can leave them
# mounted, so unmount everything below the path first and never let rm cross file systems.
remove_tree() {
    local path=$1 abs mounts
    [ -e "$path" ] || return 0
    abs=$(realpath "$path")
    mounts=$(awk -v p="$abs/" 'index($2 "/", p) == 1 { print $2 }' /proc/mounts | sort -r)
    for m in $mounts; do
        umount -l "$m"
    done
    rm -rf --one-file-system "$path"
}

otp_release() {
    chroot "$1" erl -noshell -eval 'io:put_chars(erlang:system_info(otp_release)), halt().'
}

build() {
    local dir=$1 suite=$2 release=$3 mirror=${4:-http://deb.debian.org/debian}
    local tmp=$dir.tmp log=$dir.log got start
    if [ -x "$dir/usr/bin/erl" ]; then
        echo "==> $dir: present"
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "building $dir needs root (debootstrap, chroot)"
    command -v debootstrap >/dev/null || die "debootstrap is missing: run \`make setup\`"
    [ -e "$dir" ] && die "$dir exists but has no usr/bin/erl; remove it with \`make clean-otp\`"
    if [ -e "$tmp" ]; then
        echo "==> $tmp: left by an interrupted run, removing"
        remove_tree "$tmp"
    fi
    mkdir -p "$(dirname "$dir")"
    echo "==> debootstrap $suite (OTP $release) into $dir (log: $log)"
    start=$SECONDS
    if ! debootstrap --variant=minbase --include=erlang-base "$suite" "$tmp" "$mirror" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "debootstrap $suite failed (full log: $log)"
    fi
    cp /etc/hosts "$tmp/etc/hosts"
    got=$(otp_release "$tmp") || die "erl does not run in $tmp"
    [ "$got" = "$release" ] ||
        die "$suite now ships OTP $got, not $release: update OTP_COMPAT in the Makefile"
    rm -f "$tmp"/var/cache/apt/archives/*.deb
    mv "$tmp" "$dir"
    echo "==> $dir: OTP $got ready in $((SECONDS - start)) s"
}

case ${1:-} in
    build)  [ $# -ge 4 ] || die "usage: $0 build DIR SUITE RELEASE [MIRROR]"; shift; build "$@" ;;
    remove) [ $# -eq 2 ] || die "usage: $0 remove DIR"; remove_tree "$2"; remove_tree "$2.tmp" ;;
    *)      die "usage: $0 build DIR SUITE RELEASE [MIRROR] | remove DIR" ;;
esac
