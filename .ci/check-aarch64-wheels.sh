#!/usr/bin/env bash
# The board is ARM64: every runtime dependency must resolve to prebuilt aarch64 wheels
# (no compiler on the board) for each supported CPython. pip matches platform tags
# exactly, so every manylinux tag an aarch64 glibc system accepts is listed.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
mapfile -t deps < <("$py" -c 'import tomllib; [print(d) for d in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]]')
platforms=()
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_26 manylinux_2_24 manylinux_2_17 manylinux2014; do
  platforms+=(--platform "${tag}_aarch64")
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for version in 3.11 3.12 3.13; do
  abi="cp${version/./}"
  if ! "$py" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
      "${platforms[@]}" --platform any --python-version "$version" --implementation cp \
      --abi "$abi" --abi abi3 --abi none -d "$tmp/$version" "${deps[@]}" 2> "$tmp/err"; then
    grep -v "is ignored" "$tmp/err" >&2 || true
    echo "aarch64 wheels: a runtime dependency has no aarch64 wheel for CPython $version" >&2
    exit 1
  fi
  echo "aarch64 wheels: CPython $version ok ($(ls "$tmp/$version" | wc -l) wheels)"
done
