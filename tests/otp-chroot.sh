#!/usr/bin/env bash
# Newer OTP releases for compatibility tests, as minimal Debian chroots (run as root).
#
#   tests/otp-chroot.sh build DIR SUITE RELEASE [MIRROR]   debootstrap SUITE with PACKAGES into DIR
#   tests/otp-chroot.sh remove DIR                          delete DIR (and DIR.tmp)
#
# PACKAGES are erlang-base and erlang-ssl (TLS distribution, `-proto_dist inet_tls`; it brings
# crypto, public_key and asn1). `build` works in DIR.tmp and renames it to DIR only once the
# chroot runs `erl`, reports otp_release RELEASE and loads ssl, so DIR exists only when
# complete. An interrupted run leaves DIR.tmp behind, which the next run deletes and redoes.
# A DIR built before erlang-ssl was one of PACKAGES gets it with apt-get inside the chroot;
# a complete DIR is left as it is, so a second run does nothing and needs no network. Nodes in
# the chroot share the host's loopback and EPMD; the host's /etc/hosts is copied in so that
# the short host name resolves.
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

PACKAGES=erlang-base,erlang-ssl

otp_release() {
    chroot "$1" erl -noshell -eval 'io:put_chars(erlang:system_info(otp_release)), halt().'
}

has_ssl() {
    compgen -G "$1/usr/lib/erlang/lib/ssl-*/ebin/ssl.app" >/dev/null
}

# Checks that DIR runs OTP RELEASE with a working ssl application (crypto's NIF loads).
check() {
    local dir=$1 release=$2 got
    got=$(otp_release "$dir") || die "erl does not run in $dir"
    [ "$got" = "$release" ] ||
        die "$dir now runs OTP $got, not $release: update OTP_COMPAT in the Makefile"
    chroot "$dir" erl -noshell -eval \
        'case application:ensure_all_started(ssl) of {ok, _} -> halt(); E -> io:format("~p~n", [E]), halt(1) end.' ||
        die "the ssl application does not start in $dir"
}

install_ssl() {
    DEBIAN_FRONTEND=noninteractive chroot "$1" \
        apt-get install -y -q --no-install-recommends erlang-ssl >>"$2" 2>&1
}

# A chroot from before erlang-ssl was included: install it with apt-get inside, from the package
# lists debootstrap left (the versions that match its erlang-base), or from fresh lists when
# those are gone from the mirror.
add_ssl() {
    local dir=$1 release=$2 log=$1.log
    [ "$(id -u)" = 0 ] || die "installing erlang-ssl into $dir needs root (chroot)"
    echo "==> $dir: installing erlang-ssl (log: $log)"
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    if ! install_ssl "$dir" "$log" &&
        ! { chroot "$dir" apt-get update -q >>"$log" 2>&1 && install_ssl "$dir" "$log"; }; then
        tail -n 30 "$log" >&2
        die "installing erlang-ssl into $dir failed (full log: $log); \`make clean-otp setup\` rebuilds the chroots"
    fi
    rm -f "$dir"/var/cache/apt/archives/*.deb
    check "$dir" "$release"
    echo "==> $dir: erlang-ssl installed"
}

# A chroot is about 350 MB, and more while debootstrap holds the packages it unpacks; two are
# built side by side while the build itself grows. On a full disk debootstrap fails with words
# that hide the cause ("Tried to extract package, but file already exists"), so the free space
# is checked before and named after a failure.
NEED_MB=2048

check_space() {
    local free_mb
    free_mb=$(df -Pm "$1" | awk 'NR == 2 { print $4 }')
    [ "$free_mb" -ge "$NEED_MB" ] ||
        die "only $free_mb MB free on the file system of $1; building a chroot wants $NEED_MB MB free"
}

build() {
    local dir=$1 suite=$2 release=$3 mirror=${4:-http://deb.debian.org/debian}
    local tmp=$dir.tmp log=$dir.log start
    if [ -x "$dir/usr/bin/erl" ]; then
        if has_ssl "$dir"; then
            echo "==> $dir: present"
        else
            add_ssl "$dir" "$release"
        fi
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
    check_space "$(dirname "$dir")"
    echo "==> debootstrap $suite (OTP $release) into $dir (log: $log)"
    start=$SECONDS
    if ! debootstrap --variant=minbase --include="$PACKAGES" "$suite" "$tmp" "$mirror" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        if grep -q "No space left on device" "$log" "$tmp/debootstrap/debootstrap.log" 2>/dev/null; then
            die "debootstrap $suite failed: the disk is full (full log: $log)"
        fi
        die "debootstrap $suite failed (full log: $log)"
    fi
    cp /etc/hosts "$tmp/etc/hosts"
    check "$tmp" "$release"
    rm -f "$tmp"/var/cache/apt/archives/*.deb
    mv "$tmp" "$dir"
    echo "==> $dir: OTP $release ready in $((SECONDS - start)) s"
}

case ${1:-} in
    build)  [ $# -ge 4 ] || die "usage: $0 build DIR SUITE RELEASE [MIRROR]"; shift; build "$@" ;;
    remove) [ $# -eq 2 ] || die "usage: $0 remove DIR"; remove_tree "$2"; remove_tree "$2.tmp" ;;
    *)      die "usage: $0 build DIR SUITE RELEASE [MIRROR] | remove DIR" ;;
esac
