#!/usr/bin/env bash
# Builds what scripts/gpu_check.sh runs and puts it in one folder for a GPU
# machine that has this project's torch but not its Debian packages: the
# binaries, stripped, in DIR/bin, and the shared libraries they need besides
# torch, CUDA and the C runtime in DIR/lib.tar.xz (gpu_check.sh takes only
# those the machine lacks; xz keeps the folder small enough to send). Then, there: scripts/gpu_check.sh --prebuilt DIR.
#   scripts/gpu_bundle.sh [BUILD] [DIR]   (defaults: build .gpu)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build} DIR=${2:-$ROOT/.gpu}
ninja -C "$BUILD" r1 backend_test generate_bench learner_bench process_group_test allreduce_bench
rm -rf "$DIR" && mkdir -p "$DIR/bin" "$DIR/lib"
trap 'rm -rf "$DIR/lib"' EXIT
BINARIES=("$BUILD/r1" "$BUILD/tests/backend_test" "$BUILD/model/generate_bench" "$BUILD/grpo/learner_bench"
          "$BUILD/train/process_group_test" "$BUILD/train/allreduce_bench")
for b in "${BINARIES[@]}"; do strip -o "$DIR/bin/$(basename "$b")" "$b"; done
ldd "${BINARIES[@]}" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
  grep -Ev '/(libtorch|libc10|libcu|libnv|libnccl|libgomp|libc\.so|libm\.so|libstdc\+\+|libgcc_s|libpthread|libdl|librt|ld-linux)' |
  while read -r lib; do cp -L "$lib" "$DIR/lib/"; done
tar -C "$DIR/lib" -cJf "$DIR/lib.tar.xz" .
du -sh "$DIR"
