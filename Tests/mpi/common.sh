# Shared by the training suites under Tests/mpi (sourced, not run): a work directory removed at exit, PASS/FAIL
# counting, and the small synthetic shard set (4 classes, 56 training clips of 48x48) they train on.
# The sourcing script sets BIN first.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
passed=0; failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass() { echo "PASS $1"; passed=$((passed + 1)); }
# fail NAME LOG...: prints the last lines of each log.
fail() { echo "FAIL $1"; shift; for f in "$@"; do tail -n 25 "$f" | sed 's/^/    /'; done; failed=$((failed + 1)); }

"$BIN/asl-shards" synth --out "$work/synth" --classes 4 --clips-per-class 20 --frames 16 --size 64 >/dev/null 2>&1 &&
"$BIN/asl-shards" build wlasl --json "$work/synth/WLASL_synth.json" --videos "$work/synth/videos" \
    --out "$work/shards" --size 48 --shards 2 >/dev/null 2>&1 || { echo "FAIL could not build the test shards"; exit 1; }
