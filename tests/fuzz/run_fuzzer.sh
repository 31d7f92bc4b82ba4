#!/bin/sh
# run_fuzzer.sh FUZZER CORPUS_DIR WORK_DIR SECONDS [libFuzzer flags...]
#
# Runs a libFuzzer target over the committed corpus, then fuzzes for SECONDS.
# New inputs go to WORK_DIR (the committed corpus is only read: libFuzzer
# writes into the first directory it is given); a crash leaves its input in
# WORK_DIR as crash-<sha1> and fails. To keep it as a regression case, copy
# it into tests/fuzz/corpus/<target>/ (see tests/RELIABILITY.md).
set -eu
fuzzer=$1 corpus=$2 work=$3 seconds=$4
shift 4
# A fresh work directory makes a run repeatable (ctest sets this).
if [ "${POOLCAT_FUZZ_FRESH_WORK:-0}" = 1 ]; then rm -rf "$work"; fi
mkdir -p "$work"
# -rss_limit_mb and -timeout turn a memory blow-up or a hang into a failure.
exec "$fuzzer" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$work/" "$@" "$work" "$corpus"
