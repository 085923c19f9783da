#!/usr/bin/env bash
# Assembles krun's image from a binary built on this machine, without network: the same layout
# as image/Containerfile (minimal: krun, its C runtime, CA certificates, user 65532; ci: plus a
# shell and git), copied from the host, built FROM scratch with buildah, podman or docker.
#
#   bash image/assemble.sh [--variant minimal|ci] [--binary PATH] [--repo NAME] [--push]
#
#   --binary PATH  the krun to package (default: target/release/krun; build it with
#                  `cargo build --release --locked`). It is stripped in the image.
#   --repo NAME    image name without tag (default: krun), e.g. 127.0.0.1:5000/krun
#   --push         push the image to its registry afterwards
#
# The tag is reproducible: <version>-<first 12 hex of the sha256 of the image's files> (the
# stripped binary and all that is copied with it), plus -ci for the ci variant. The full
# reference is the only line printed on stdout.
set -euo pipefail

variant=minimal binary=target/release/krun repo=krun push=
while [ $# -gt 0 ]; do
  case "$1" in
    --variant) variant=$2; shift 2;;
    --binary) binary=$2; shift 2;;
    --repo) repo=$2; shift 2;;
    --push) push=1; shift;;
    -h|--help) sed -n '2,14p' "$0"; exit 0;;
    *) echo "assemble.sh: unknown argument '$1' (see --help)" >&2; exit 2;;
  esac
done
die() { echo "assemble.sh: $*" >&2; exit 1; }
case "$variant" in minimal|ci) ;; *) die "--variant is minimal or ci, not '$variant'";; esac
[ -x "$binary" ] || die "no krun binary at $binary; build one with: cargo build --release --locked"

builder=
for b in buildah podman docker; do
  if command -v "$b" >/dev/null; then builder=$b; break; fi
done
[ -n "$builder" ] || die "no image builder found: install buildah, podman or docker"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp" "$work/nonroot"
chmod 1777 "$root/tmp"

cp "$binary" "$root/usr/local/bin/krun"
strip "$root/usr/local/bin/krun" 2>/dev/null || true
version=$("$root/usr/local/bin/krun" --version | awk '{print $2}')

shell=/sbin/nologin env_git=
elves=("$root/usr/local/bin/krun")
if [ "$variant" = ci ]; then
  # A shell and the usual tools: BusyBox (Debian's busybox-static), one symlink per applet.
  bb=$(command -v busybox) || die "the ci variant needs busybox (apt-get install busybox-static)"
  mkdir -p "$root/bin"
  cp -L "$bb" "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  shell=/bin/sh
  # git at the path it was built for (its helpers live in its compiled-in exec path); only the
  # program and its transport helpers: every other git command is built into the program.
  git=$(command -v git) || die "the ci variant needs git on PATH"
  git=$(readlink -f "$git")
  exec_path=$("$git" --exec-path)
  mkdir -p "$root$(dirname "$git")" "$root$exec_path"
  cp "$git" "$root$git"
  elves+=("$root$git")
  mkdir -p "$root/usr/share/git-core/templates"
  env_git='ENV GIT_TEMPLATE_DIR=/usr/share/git-core/templates'
  for helper in git-remote-http git-remote-https; do
    if [ -e "$exec_path/$helper" ]; then
      cp -L "$exec_path/$helper" "$root$exec_path/$helper"
      elves+=("$root$exec_path/$helper")
    fi
  done
fi

# The C runtime and libraries the programs need, at the paths the dynamic loader looks in.
for elf in "${elves[@]}"; do
  ldd "$elf" | awk '/=> \//{print $3} /^[[:space:]]*\//{print $1}'
done | sort -u | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done

cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/" \
  || die "no CA certificates at /etc/ssl/certs (apt-get install ca-certificates)"
printf 'root:x:0:0:root:/root:%s\nnonroot:x:65532:65532:nonroot:/home/nonroot:%s\n' "$shell" "$shell" > "$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$root/etc/group"

# Same bytes in, same layer out: fixed timestamps and ownership; the tag names those bytes.
find "$root" "$work/nonroot" -exec touch -h -d @0 {} +
hash=$(tar -C "$work" --sort=name --owner=0 --group=0 --numeric-owner -cf - rootfs | sha256sum | cut -c1-12)
tag=$version-$hash
[ "$variant" = ci ] && tag=$tag-ci
ref=$repo:$tag
cat > "$work/Containerfile" <<CONTAINERFILE
FROM scratch
COPY rootfs/ /
COPY --chown=65532:65532 nonroot /home/nonroot
ENV HOME=/home/nonroot
$env_git
USER 65532:65532
WORKDIR /home/nonroot
LABEL org.opencontainers.image.title=krun org.opencontainers.image.version=$version
ENTRYPOINT ["/usr/local/bin/krun"]
CONTAINERFILE

case "$builder" in
  buildah) buildah bud --quiet --timestamp 0 -t "$ref" "$work" >&2;;
  podman) podman build --quiet --timestamp 0 -t "$ref" "$work" >&2;;
  docker) SOURCE_DATE_EPOCH=0 docker build --quiet -t "$ref" "$work" >&2;;
esac

if [ -n "$push" ]; then
  # Registries on this machine speak plain HTTP, as kind's and minikube's local registries do.
  tls=()
  case "$repo" in 127.0.0.1:*|localhost:*|localhost/*) [ "$builder" = docker ] || tls=(--tls-verify=false);; esac
  case "$builder" in
    buildah|podman) "$builder" push --quiet "${tls[@]}" "$ref" "docker://$ref" >&2;;
    docker) docker push --quiet "$ref" >&2;;
  esac
fi
echo "$ref"
