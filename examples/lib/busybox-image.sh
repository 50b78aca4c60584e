#!/usr/bin/env bash
# Builds the image the tests and examples run, `local/busybox:1` by default, from the host's
# static /bin/busybox (Debian's busybox-static), because no registry is reachable to pull one.
#
#   bash examples/lib/busybox-image.sh [TAG]
#
# Does nothing when TAG exists and was built by this recipe (its import comment says so); an
# image of that name built another way (say by hand, with a /tmp that `nobody` cannot write) is
# rebuilt, so tests see the same image on every machine. Bump `recipe` when the rootfs changes.
# The mark is the import comment, not a label, because containers inherit their image's labels.
# Safe to run concurrently: each run builds in its own temporary folder, and two imports of the
# same rootfs give the same content under the same tag.
set -euo pipefail

tag="${1:-local/busybox:1}"
busybox=/bin/busybox
mark="capstan busybox recipe 1"

if [ "$(docker image inspect --format '{{.Comment}}' "$tag" 2>/dev/null)" = "$mark" ]; then
  exit 0
fi

if [ ! -x "$busybox" ]; then
  echo "busybox-image: $busybox is missing; install busybox-static (examples/lib/ensure-docker.sh does)" >&2
  exit 1
fi
# The image holds nothing but busybox, so a dynamically linked one (Debian's `busybox` package)
# would not start in it.
if command -v ldd >/dev/null 2>&1 && ldd "$busybox" >/dev/null 2>&1; then
  echo "busybox-image: $busybox is dynamically linked; install busybox-static instead of busybox" >&2
  exit 1
fi

rootfs="$(mktemp -d "${TMPDIR:-/tmp}/capstan-busybox.XXXXXX")"
trap 'rm -rf "$rootfs"' EXIT

mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,root,var/www,tmp}
chmod 1777 "$rootfs/tmp"
chmod 700 "$rootfs/root"
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  if [ ! -e "$rootfs/bin/$applet" ]; then
    ln -s busybox "$rootfs/bin/$applet"
  fi
done

cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF

tar -C "$rootfs" --numeric-owner --owner=0 --group=0 -cf - . \
  | docker import \
    --change 'CMD ["sh"]' \
    --change 'ENV PATH=/bin:/sbin:/usr/bin:/usr/sbin' \
    --message "$mark" \
    - "$tag" >/dev/null

if ! greeting="$(docker run --rm "$tag" sh -c 'echo hello from busybox' 2>&1)" \
  || [ "$greeting" != "hello from busybox" ]; then
  echo "busybox-image: built $tag but it does not run: $greeting" >&2
  exit 1
fi
echo "busybox-image: built $tag" >&2
