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
# expect NAME PATTERN... -- COMMAND: passes when the command fails (not by the 60 s timeout) and its output matches
# every PATTERN (grep); a PATTERN written !P must not match.
expect() {
    local name=$1; shift; local patterns=()
    while [ "$1" != "--" ]; do patterns+=("$1"); shift; done; shift
    timeout 60 "$@" >"$work/e.log" 2>&1
    local rc=$? ok=1 p
    for p in "${patterns[@]}"; do
        if [ "${p:0:1}" = "!" ]; then grep -q -- "${p:1}" "$work/e.log" && ok=0; else grep -q -- "$p" "$work/e.log" || ok=0; fi
    done
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $ok = 1 ]; then pass "$name"; else fail "$name (exit $rc)" "$work/e.log"; fi
}

"$BIN/asl-shards" synth --out "$work/synth" --classes 4 --clips-per-class 20 --frames 16 --size 64 >/dev/null 2>&1 &&
"$BIN/asl-shards" build wlasl --json "$work/synth/WLASL_synth.json" --videos "$work/synth/videos" \
    --out "$work/shards" --size 48 --shards 2 >/dev/null 2>&1 || { echo "FAIL could not build the test shards"; exit 1; }
