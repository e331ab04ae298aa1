#!/usr/bin/env bash
# Builds the FileDescriptorSet server reflection answers from (controller/src/server/reflection.ts):
# asm's protos, and the health-checking and reflection protos of the npm packages that serve them.
# Usage: proto/build-descriptors.sh OUT.binpb   (run from the repository root, after npm ci)
set -euo pipefail
out=$1
reflection=node_modules/@grpc/reflection/build/proto
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npx buf build -o "$tmp/asm.binpb"
npx buf build node_modules/grpc-health-check/proto -o "$tmp/health.binpb"
npx buf build "$reflection" --path "$reflection/grpc/reflection/v1/reflection.proto" --path "$reflection/grpc/reflection/v1alpha/reflection.proto" -o "$tmp/reflection.binpb"
# A FileDescriptorSet is one repeated field: the sets concatenated are their union.
cat "$tmp/asm.binpb" "$tmp/health.binpb" "$tmp/reflection.binpb" > "$out"
