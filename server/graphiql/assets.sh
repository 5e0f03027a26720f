#!/usr/bin/env bash
# Refreshes GraphiQL's vendored files from the npm registry and checks them
# against assets.sha256. Run it through `make graphiql-assets`.
#
# The files are committed so that builds need no network; this script is only
# for reviewing them or moving to another version. To change a version: edit
# the pins below and the paths in static/index.html, run with
# GRAPHIQL_ASSETS_UPDATE=1 to rewrite assets.sha256, and review the diff.
set -euo pipefail
cd "$(dirname "$0")"

# Exact versions: graphiql 3.x is the last line that ships a UMD bundle
# (graphiql.min.js) loadable with plain <script> tags; React 18 is the newest
# React with UMD builds.
GRAPHIQL=3.9.0
REACT=18.3.1

vendor=static/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# npm pack checks each tarball against the registry's integrity hash.
(cd "$tmp" && npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null)
for pkg in "graphiql-$GRAPHIQL" "react-$REACT" "react-dom-$REACT"; do
	mkdir -p "$tmp/$pkg"
	tar -xzf "$tmp/$pkg.tgz" -C "$tmp/$pkg" --strip-components=1
done

rm -rf "$vendor"
mkdir -p "$vendor/graphiql-$GRAPHIQL" "$vendor/react-$REACT" "$vendor/react-dom-$REACT"
cp "$tmp/graphiql-$GRAPHIQL/"{graphiql.min.js,graphiql.min.css,LICENSE} "$vendor/graphiql-$GRAPHIQL/"
cp "$tmp/react-$REACT/"{umd/react.production.min.js,LICENSE} "$vendor/react-$REACT/"
cp "$tmp/react-dom-$REACT/"{umd/react-dom.production.min.js,LICENSE} "$vendor/react-dom-$REACT/"

if [ "${GRAPHIQL_ASSETS_UPDATE:-}" = 1 ]; then
	(cd "$vendor" && find . -type f | LC_ALL=C sort | sed 's|^\./||' | xargs sha256sum) > assets.sha256
	echo "rewrote assets.sha256: review the diff before committing"
fi
(cd "$vendor" && sha256sum --quiet --strict -c ../../assets.sha256)
echo "GraphiQL $GRAPHIQL, React $REACT: every file matches assets.sha256"
