#!/usr/bin/env bash
# Regenerates src/export/proto/onnx_pb.ts from src/export/proto/onnx.proto.
#
#   bash scripts/gen-onnx-proto.sh
#
# Needs protoc (Debian: apt-get install protobuf-compiler) and the dev dependency
# @bufbuild/protoc-gen-es (node_modules/.bin/protoc-gen-es). The generated file is committed, so
# building and testing never run this. onnx.proto is a copy of the official schema (Debian's
# python3-onnx 1.12 ships it as /usr/lib/python3/dist-packages/onnx/onnx.proto); to move to a newer
# schema, replace that copy and rerun this script.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
protoc="${PROTOC:-protoc}"
plugin="$root/node_modules/.bin/protoc-gen-es"
[ -x "$plugin" ] || { echo "missing $plugin: run npm install first" >&2; exit 1; }
command -v "$protoc" >/dev/null || { echo "protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
"$protoc" \
  --plugin=protoc-gen-es="$plugin" \
  --proto_path="$root/src/export/proto" \
  --es_out="$root/src/export/proto" \
  --es_opt=target=ts,import_extension=js \
  "$root/src/export/proto/onnx.proto"
out="$root/src/export/proto/onnx_pb.ts"
{ echo "// Generated from onnx.proto by scripts/gen-onnx-proto.sh; do not edit, rerun the script."; cat "$out"; } > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote src/export/proto/onnx_pb.ts"
