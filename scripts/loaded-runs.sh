#!/usr/bin/env bash
# The "zero failures beside a CPU hog" check: RUNS (default 5) runs of `npm test` in a row on a
# fresh clone of <rev>, with one busy-looping node process beside them. Each run's output goes to
# $OUT/run-N.log and a line to $OUT/summary; a failed run keeps every process's log in
# $OUT/logs-N (JETSTEP_TEST_LOG_DIR). Takes 10 minutes or so per run on 2 cores.
#
#   scripts/loaded-runs.sh HEAD            # OUT=/tmp/loaded-runs, RUNS=5
set -u
rev=${1:?usage: scripts/loaded-runs.sh <rev>}
repo=$(git rev-parse --show-toplevel)
out=${OUT:-/tmp/loaded-runs}
runs=${RUNS:-5}
clone="$out/clone"
rm -rf "$out" && mkdir -p "$out"
git clone -q "$repo" "$clone" && git -C "$clone" checkout -q "$rev" || exit 1
(cd "$clone" && npm ci --no-audit --no-fund > "$out/npm-ci.log" 2>&1) || exit 1
node -e "for(;;){}" &
hog=$!
trap 'kill $hog 2>/dev/null' EXIT
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  (cd "$clone" && JETSTEP_TEST_LOG_DIR="$out/logs-$i" npm test > "$out/run-$i.log" 2>&1)
  rc=$?
  echo "run $i rc=$rc wall=$(($(date +%s) - start))s $(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out/run-$i.log" | tail -1)" >> "$out/summary"
  [ $rc -eq 0 ] && rm -rf "$out/logs-$i"
done
cat "$out/summary"
