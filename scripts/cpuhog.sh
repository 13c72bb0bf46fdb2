#!/usr/bin/env bash
# Runs a command beside a CPU hog: one busy process per core (or $HOGS),
# at the same priority as the command, for as long as the command runs.
# Tests must hold on a loaded machine (issue 12): `make test-loaded` runs
# the integration suites this way.
#   scripts/cpuhog.sh go test -count=1 ./integration/...
set -u
if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]: runs COMMAND beside \${HOGS:-\$(nproc)} busy processes" >&2
  exit 2
fi
n=${HOGS:-$(nproc)}
pids=()
for _ in $(seq 1 "$n"); do
  bash -c 'while :; do :; done' &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
echo "cpuhog: $n busy processes beside: $*" >&2
"$@"
