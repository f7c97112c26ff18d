#!/usr/bin/env bash
# Builds .devpack/ (ignored by git): what bench/device/*.sh need on a bare machine with no network and no node —
# the device machine the `device` tool lends (docs/benchmarks.md "On 16 dedicated cores"). Node's binary (xz),
# the production dependencies with only the files Node loads (each @tensorflow package's `main` bundle and the
# wasm binaries), dist/, bin/, proto/, configs/ and the native addon (app.tar.xz), and the datasets the scripts
# read. About 35 MB; the tool carries at most 64 MiB with the working tree. Run from the repository root after
# `npm ci` (which builds dist/ and the addon):
#   bench/device/pack.sh            then, through the tool: bash bench/device/scaling.sh   (carry: .devpack)
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${SHARED:-../shared}
[ -f build/Release/camrec_native.node ] && [ -f dist/cli/main.js ] || { echo "pack.sh: run npm ci first (no dist/ or native addon)" >&2; exit 2; }
grep -qx '/.devpack/' .git/info/exclude 2>/dev/null || echo '/.devpack/' >> .git/info/exclude
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/app" .devpack/data
cp package.json package-lock.json "$tmp/app/"
(cd "$tmp/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund > /dev/null)
nm=$tmp/app/node_modules
find "$nm" \( -name '*.map' -o -name '*.ts' -o -name '*.md' \) -type f -delete
rm -rf "$nm/@tensorflow/tfjs-node" "$nm/@tensorflow/tfjs-node-gpu"
for p in "$nm"/@tensorflow/*; do
  main=$(node -p "require('$p/package.json').main")
  find "$p/dist" -type f ! -path "$p/$main" -delete
done
cp node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm "$nm/@tensorflow/tfjs-backend-wasm/dist/"
rm -rf "$nm/@tensorflow/tfjs-backend-wasm/wasm-out"
cp -r dist bin proto configs "$tmp/app/"
mkdir -p "$tmp/app/build/Release" && cp build/Release/camrec_native.node "$tmp/app/build/Release/"
tar -cJf .devpack/app.tar.xz -C "$tmp" app
xz -T2 -6 -c "$(readlink -f "$(command -v node)")" > .devpack/node.xz
rm -rf .devpack/data/baby && cp -r "$SHARED/datasets/baby" .devpack/data/ && chmod -R u+w .devpack/data
tar -cJf .devpack/microlens.tar.xz -C "$SHARED/datasets" microlens-50k
du -sh .devpack
