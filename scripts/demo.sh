#!/usr/bin/env bash
# The built-in default job (see README): runs with nothing downloaded.
set -euo pipefail
BUILD=${1:-build}
"$BUILD/r1" --help
