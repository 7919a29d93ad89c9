#!/usr/bin/env bash
# Builds the lab images (tools/images/<name>/recipe.env) with mmdebstrap and buildah, each into a
# docker-archive in a cache outside the work tree, keyed by a hash of its inputs (python3 -m labimages key):
# an image whose inputs did not change is not rebuilt. Writes index.json beside the archives. Needs root
# (mmdebstrap's root mode, buildah's default storage in /var/lib/containers). Never run from inside a test.
#   tools/images/build.sh [name...]   (no argument: every recipe, bases first)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${WEBSTACK_CACHE:-$HOME/.cache/webstack}/images
# runc and cgroupfs, ulimits below the hard limits: see containers.conf.
export CONTAINERS_CONF=$here/containers.conf
MIRROR=${WEBSTACK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${WEBSTACK_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
# pip inside a build reaches PyPI through this machine's network: its CA bundle and pip config, read-only.
CA_BUNDLE=${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
LABEL_PREFIX=webstack.lab
# No manuals, documentation (but each package's copyright) or translations in an image, as the slim images.
DPKG_EXCLUDES=(--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright')

labimages() { PYTHONPATH="$root/tools/python" python3 -m labimages "$@"; }
say() { printf '==> %-16s %s\n' "$1" "$2"; }

elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
# buildah's storage is the machine's, shared by every checkout: an image of that name may be another
# checkout's build, so what counts is the input hash it was labelled with.
in_storage() {
  [ "$(buildah inspect --type image --format "{{index .OCIv1.Config.Labels \"$LABEL_PREFIX/input-hash\"}}" \
    "$1" 2>/dev/null)" = "$2" ]
}

# The release, its updates and its security fixes, as a Debian machine's sources.
debian_sources() {
  printf 'deb %s %s main\n' "$MIRROR" "$1" "$MIRROR" "$1-updates"
  printf 'deb %s %s-security main\n' "$SECURITY_MIRROR" "$1"
}

upstream_version() { local v=${1#*:}; echo "${v%%-*}"; }
package_version() { awk -v p="$2" '$1 == p || $1 == p":amd64" {print $2}' "$1"; }

# Labels every lab image carries: what it is, what it stands in for, what it is made of.
common_labels() {
  local name=$1 key=$2 base=$3 python=$4
  labels=(--label "$LABEL_PREFIX/lab-image=true" --label "$LABEL_PREFIX/recipe=tools/images/$name"
    --label "$LABEL_PREFIX/stands-in-for=$STANDS_IN_FOR" --label "$LABEL_PREFIX/base=$base"
    --label "$LABEL_PREFIX/input-hash=$key")
  [ -z "$python" ] || labels+=(--label "$LABEL_PREFIX/python-version=$python"
    --label "$LABEL_PREFIX/python-version-release=3.11.14 (python:3.11.14-slim-bookworm)")
}

# A Debian root filesystem (minbase + the recipe's packages, its hooks) as a one-layer image.
build_rootfs() {
  local name=$1 key=$2 work=$3 dir=$here/$1 hooks=() sources=() c python="" main
  [ -x "$dir/essential.sh" ] && hooks+=(--essential-hook="sh $dir/essential.sh \"\$1\"")
  [ -x "$dir/customize.sh" ] && hooks+=(--customize-hook="sh $dir/customize.sh \"\$1\"")
  hooks+=(--customize-hook="chroot \"\$1\" dpkg-query -W > $work/packages.txt")
  mapfile -t sources < <(debian_sources "$SUITE")
  # shellcheck disable=SC2086 # MMDEBSTRAP_OPTIONS: words, as the recipe gives them.
  mmdebstrap --quiet --variant=minbase --include="${PACKAGES// /,}" "${DPKG_EXCLUDES[@]}" \
    ${MMDEBSTRAP_OPTIONS:-} "${hooks[@]}" "$SUITE" "$work/rootfs.tar" "${sources[@]}"
  main=$(package_version "$work/packages.txt" "$MAIN_PACKAGE")
  [ -z "${PYTHON_PACKAGE:-}" ] || python=$(upstream_version "$(package_version "$work/packages.txt" "$PYTHON_PACKAGE")")
  common_labels "$name" "$key" "Debian $SUITE minbase made with mmdebstrap" "$python"
  labels+=(--label "$LABEL_PREFIX/debian-package=$MAIN_PACKAGE $main")
  c=$(buildah from scratch)
  buildah add --quiet "$c" "$work/rootfs.tar" / >/dev/null
  configure "$c"
  buildah commit --quiet --rm "$c" "$REF" >/dev/null
  cp "$work/packages.txt" "$cache/$name.packages"
  echo "Debian $SUITE minbase made with mmdebstrap ($MAIN_PACKAGE $main)|$python"
}

# One static binary from a Debian package on an empty root filesystem.
build_binary() {
  local name=$1 key=$2 work=$3 c main sources=()
  mapfile -t sources < <(debian_sources "$SUITE")
  mmdebstrap --quiet --variant=extract --include="${PACKAGES// /,}" "$SUITE" "$work/extract" "${sources[@]}"
  # The extract variant records no dpkg status: the version is the changelog's first entry.
  main=$(zcat "$work/extract/usr/share/doc/$MAIN_PACKAGE/changelog.Debian.gz" | sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p')
  common_labels "$name" "$key" "empty (scratch) with $BINARY from Debian $SUITE" ""
  labels+=(--label "$LABEL_PREFIX/debian-package=$MAIN_PACKAGE $main")
  c=$(buildah from scratch)
  buildah copy --quiet "$c" "$work/extract$BINARY" "/$(basename "$BINARY")" >/dev/null
  configure "$c"
  buildah commit --quiet --rm "$c" "$REF" >/dev/null
  echo "scratch + $BINARY from Debian $SUITE ($MAIN_PACKAGE $main)|"
}

configure() {
  local c=$1 e args=()
  for e in ${IMAGE_ENV:-}; do args+=(--env "$e"); done
  [ -z "${ENTRYPOINT:-}" ] || args+=(--entrypoint "$ENTRYPOINT")
  [ -z "${CMD:-}" ] || args+=(--cmd "$CMD")
  [ -z "${USER:-}" ] || args+=(--user "$USER")
  [ -z "${WORKDIR:-}" ] || args+=(--workingdir "$WORKDIR")
  [ -z "${STOPSIGNAL:-}" ] || args+=(--stop-signal "$STOPSIGNAL")
  [ -z "${PORTS:-}" ] || args+=(--port "$PORTS")
  buildah config "${args[@]}" "${labels[@]}" "$c"
}

# A project Dockerfile, unchanged, with its first FROM replaced by the lab base.
build_dockerfile() {
  local name=$1 key=$2 base_ref python mounts=() before c
  # shellcheck disable=SC1090,SC2153 # BASE comes from the recipe sourced by build_image.
  base_ref=$(. "$here/$BASE/recipe.env" && echo "$REF")
  python=$(upstream_version "$(package_version "$cache/$BASE.packages" python3.11)")
  mounts+=(-v "$CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro")
  [ ! -f /etc/pip.conf ] || mounts+=(-v /etc/pip.conf:/etc/pip.conf:ro)
  common_labels "$name" "$key" "$base_ref (Debian bookworm minbase made with mmdebstrap)" "$python"
  before=$(buildah containers -q --filter "ancestor=$base_ref")
  buildah build --quiet --isolation chroot --from "$base_ref" -f "$root/$DOCKERFILE" "${mounts[@]}" \
    "${labels[@]}" -t "$REF" "$root" >/dev/null
  # buildah 1.28 leaves the working container of the replaced base stage behind: remove the ones this made.
  for c in $(buildah containers -q --filter "ancestor=$base_ref"); do
    grep -qx "$c" <<<"$before" || buildah rm "$c" >/dev/null
  done
  echo "$base_ref (Debian bookworm minbase made with mmdebstrap)|$python"
}

build_image() (
  local name=$1 key archive t0 made previous
  # shellcheck disable=SC1090 # the recipe: KIND, REF, SUITE, PACKAGES... (tools/images/*/recipe.env)
  . "$here/$name/recipe.env"
  key=$(labimages key "$name")
  archive=$cache/$name-${key:0:16}.tar
  if labimages fresh "$name" && in_storage "$REF" "$key"; then
    say "$name" "cached: $REF (inputs ${key:0:16} unchanged, $archive)"; return
  fi
  if labimages fresh "$name"; then
    buildah pull --quiet "docker-archive:$archive" >/dev/null
    say "$name" "cached: $REF (inputs ${key:0:16} unchanged), loaded into buildah storage from $archive"; return
  fi
  say "$name" "building $REF (inputs ${key:0:16})"
  previous=$(buildah inspect --type image --format '{{.FromImageID}}' "$REF" 2>/dev/null || true)
  t0=$EPOCHREALTIME
  work=$(mktemp -d "${TMPDIR:-/tmp}/labimage-$name.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  made=$("build_$KIND" "$name" "$key" "$work")
  made=${made##*$'\n'}  # the last line: "<base>|<python version>"
  rm -f "$archive.tmp"
  buildah push --quiet "$REF" "docker-archive:$archive.tmp:$REF" >/dev/null
  mv "$archive.tmp" "$archive"
  find "$cache" -maxdepth 1 -name "$name-*.tar" ! -path "$archive" -delete
  # The image this one replaces, now untagged: removed, unless another image still names it.
  [ -z "$previous" ] || buildah rmi "$previous" >/dev/null 2>&1 || true
  labimages record "$name" --reference "$REF" --key "$key" --archive "$archive" --base "${made%|*}" \
    --python "${made##*|}" --seconds "$(elapsed "$t0")"
  say "$name" "built $REF in $(elapsed "$t0")s: $archive"
)

mkdir -p "$cache"
names=("$@")
[ ${#names[@]} -gt 0 ] || mapfile -t names < <(labimages names)
for name in "${names[@]}"; do build_image "$name"; done
labimages show
