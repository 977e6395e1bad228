#!/usr/bin/env bash
# Builds the static ironclad binary, then the image of Containerfile from it
# (GoReleaser's way: no base image to pull, nothing run inside the build),
# and checks the image's configuration with podman image inspect.
#
#   bash deploy/build-image.sh [IMAGE]      (default localhost/ironclad:dev)
#
# PODMAN_BUILD_FLAGS adds flags to podman build (say --isolation=chroot or
# --storage-driver=vfs where overlay is unavailable).
set -euo pipefail
cd "$(dirname "$0")/.."

image=${1:-localhost/ironclad:dev}
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

echo "building the static binary"
CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags '-s -w' -o "$ctx/ironclad" .
# Static: no program interpreter, no shared library (file says "statically
# linked"; ldd says "not a dynamic executable").
if ldd "$ctx/ironclad" >/dev/null 2>&1; then
	echo "the binary is dynamically linked:" >&2
	ldd "$ctx/ironclad" >&2
	exit 1
fi
if command -v file >/dev/null; then
	file "$ctx/ironclad"
fi
"$ctx/ironclad" version

cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
mkdir "$ctx/data"

echo "building $image"
# shellcheck disable=SC2086 # PODMAN_BUILD_FLAGS is a list of flags
podman build --format docker ${PODMAN_BUILD_FLAGS:-} --label org.opencontainers.image.version="$version" \
	-f Containerfile -t "$image" "$ctx"

echo "checking $image"
inspect() { podman image inspect --format "$1" "$image"; }
fail=0
want() { # want WHAT GOT EXPECTED
	if [ "$2" != "$3" ]; then
		echo "image $1 = $2, want $3" >&2
		fail=1
	else
		echo "image $1 = $2"
	fi
}
want user "$(inspect '{{.Config.User}}')" "65532:65532"
want entrypoint "$(inspect '{{json .Config.Entrypoint}}')" '["/ironclad"]'
want cmd "$(inspect '{{json .Config.Cmd}}')" '["serve"]'
want healthcheck "$(inspect '{{json .Config.Healthcheck.Test}}')" '["CMD","/ironclad","healthcheck"]'
want volumes "$(inspect '{{json .Config.Volumes}}')" '{"/data":{}}'
want ports "$(inspect '{{json .Config.ExposedPorts}}')" '{"8080/tcp":{}}'
want version "$(inspect '{{index .Config.Labels "org.opencontainers.image.version"}}')" "$version"
want os/arch "$(inspect '{{.Os}}/{{.Architecture}}')" "linux/$(go env GOARCH)"
env=$(inspect '{{json .Config.Env}}')
for v in '"DATA_DIR=/data"' '"DATABASE_URL=/data/ironclad.db"' '"ADDR=:8080"'; do
	case "$env" in
	*"$v"*) ;;
	*) echo "image env $env lacks $v" >&2; fail=1 ;;
	esac
done
# The root user, uid 0 in any form, is refused.
case "$(inspect '{{.Config.User}}')" in
"" | 0 | 0:* | root | root:*) echo "image runs as root" >&2; fail=1 ;;
esac
exit $fail
