#!/usr/bin/env bash
# Vendors uPlot (the UI's one chart library) into static/vendor/uplot: the pinned version's
# package from the npm registry, checked against its recorded SHA-256, keeping only the ES
# module, its CSS and the licence. Run it to update: change VERSION and SHA256 together.
set -euo pipefail
VERSION=1.6.32
SHA256=4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="$here/static/vendor/uplot"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "uplot@$VERSION" >/dev/null)
echo "$SHA256  $work/uplot-$VERSION.tgz" | sha256sum -c --quiet
tar -xzf "$work/uplot-$VERSION.tgz" -C "$work"
mkdir -p "$dest"
cp "$work/package/dist/uPlot.esm.js" "$work/package/dist/uPlot.min.css" "$work/package/LICENSE" "$dest/"
echo "$VERSION" > "$dest/VERSION"
echo "uPlot $VERSION vendored in $dest"
