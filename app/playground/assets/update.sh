#!/usr/bin/env bash
# Fetches the playground's third-party assets from the npm registry and
# copies the browser builds and licence files here, one folder per package
# and version. The versions are pinned here and in ../playground.go (the
# constants graphiqlVersion and reactVersion); change both together, run this
# script, and commit the result.
#
#   app/playground/assets/update.sh
#
# GraphiQL 4.1.x is the last line that ships a standalone UMD build
# (graphiql.min.js, with graphiql.min.css, fonts inlined); it expects the
# React and ReactDOM globals of React 18's UMD builds (React 19 ships none).
set -euo pipefail

GRAPHIQL_VERSION=4.1.2
REACT_VERSION=18.3.1

here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

cd "$scratch"
npm pack --silent "graphiql@$GRAPHIQL_VERSION" "react@$REACT_VERSION" "react-dom@$REACT_VERSION" >/dev/null

# unpack NAME VERSION FILE... copies package/FILE of NAME-VERSION.tgz into
# NAME-VERSION/.
unpack() {
	local name=$1 version=$2
	shift 2
	local dir="$here/$name-$version"
	rm -rf "$dir"
	mkdir -p "$dir" "$scratch/$name"
	tar -xzf "$scratch/$name-$version.tgz" -C "$scratch/$name"
	for f in "$@"; do
		cp "$scratch/$name/package/$f" "$dir/"
	done
}

unpack graphiql "$GRAPHIQL_VERSION" graphiql.min.js graphiql.min.css LICENSE
unpack react "$REACT_VERSION" umd/react.production.min.js LICENSE
unpack react-dom "$REACT_VERSION" umd/react-dom.production.min.js LICENSE

# The integrity of each tarball, as the registry published it.
for p in "graphiql@$GRAPHIQL_VERSION" "react@$REACT_VERSION" "react-dom@$REACT_VERSION"; do
	printf '%s %s\n' "$p" "$(npm view "$p" dist.integrity)"
done
du -ch "$here"/*-*/* | tail -n 1
