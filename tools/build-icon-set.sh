#!/usr/bin/env bash
# Builds the icon retrieval set: the outline icons of the @tabler/icons npm package (MIT), drawn to PNG with five
# captions each from the icon's name, category and tags, in the Karpathy split format (docs/training.md, "A real
# evaluation set: icons"). Needs npm (to fetch the package) and the .NET SDK; nothing else is downloaded.
#
#   tools/build-icon-set.sh OUT [avg data icons options]     default: 3,000 icons, val 250, test 500, 128 px, seed 1
set -euo pipefail

out=${1:?usage: tools/build-icon-set.sh OUT [--images N --val N --test N --size PX --seed S --force]}
shift
version=3.51.0
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v npm >/dev/null || { echo "error: npm not found; install Node.js (Debian: apt-get install npm)" >&2; exit 2; }
(cd "$work" && npm pack --silent "@tabler/icons@$version" >/dev/null)
tar -xzf "$work"/tabler-icons-"$version".tgz -C "$work"

if [[ $# -eq 0 ]]; then set -- --images 3000 --val 250 --test 500; fi
dotnet run --project "$repo/src/Avg.Cli" -c Release -- data icons --package "$work/package" --out "$out" "$@"
