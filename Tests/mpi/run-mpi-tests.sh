#!/usr/bin/env bash
# Multi-rank tests: runs the built binaries under mpirun and checks what every rank computed, and that a failing
# rank ends the whole job quickly instead of hanging. Prints "mpi: N passed, N failed" and exits non-zero on failure.
set -u
BIN=${1:-.build/release}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
passed=0; failed=0
log=$(mktemp -d)

pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; shift; for f in "$@"; do sed 's/^/    /' "$f"; done; failed=$((failed + 1)); }

# Runs "$@" and checks it exits 0.
expect_ok() {
    local name=$1; shift
    if timeout 120 "$@" >"$log/out" 2>"$log/err"; then pass "$name"; else fail "$name (exit $?)" "$log/out" "$log/err"; fi
}

expect_ok "collectives correct on every rank, -np 2" mpirun -np 2 "$BIN/asl-dist-train" comm-check
expect_ok "collectives correct on every rank, -np 4 --oversubscribe" \
    mpirun -np 4 --oversubscribe "$BIN/asl-dist-train" comm-check
expect_ok "one rank alone without mpirun is rank 0 of 1" "$BIN/asl-dist-train" comm-check

# --version prints the library versions once, from rank 0 only.
if mpirun -np 2 "$BIN/asl-dist-train" --version >"$log/out" 2>"$log/err" \
    && [ "$(grep -c '^Open MPI: Open MPI v' "$log/out")" = 1 ] && grep -q '^OpenBLAS: .*core ' "$log/out" \
    && grep -q '^HDF5: 1\.' "$log/out" && grep -q '^FFmpeg: .*libavcodec' "$log/out" && grep -q '^OpenCV: 4\.' "$log/out"; then
    pass "--version under mpirun -np 2 prints every library once"
else
    fail "--version under mpirun -np 2 prints every library once" "$log/out" "$log/err"
fi

# A rank that throws must end the job with a non-zero status within seconds, not hang in the next collective.
for np in 2 4; do
    start=$(date +%s)
    timeout 60 mpirun -np $np --oversubscribe "$BIN/asl-dist-train" comm-check --fail-rank 1 >"$log/out" 2>"$log/err"
    rc=$?; elapsed=$(( $(date +%s) - start ))
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $elapsed -le 20 ] && grep -q 'rank 1.*fails on purpose' "$log/err"; then
        pass "a throwing rank ends the -np $np job (exit $rc after ${elapsed}s)"
    else
        fail "a throwing rank ends the -np $np job (exit $rc after ${elapsed}s; 124 = hung)" "$log/out" "$log/err"
    fi
done

# A rank that stops arriving is named by rank 0 after --stall-timeout, and the job ends.
start=$(date +%s)
timeout 60 mpirun -np 3 --oversubscribe "$BIN/asl-dist-train" comm-check --stall-rank 2 --stall-timeout 2 \
    >"$log/out" 2>"$log/err"
rc=$?; elapsed=$(( $(date +%s) - start ))
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $elapsed -le 20 ] && grep -q "rank(s) 2 missing" "$log/err"; then
    pass "the watchdog names a stalled rank and ends the job (exit $rc after ${elapsed}s)"
else
    fail "the watchdog names a stalled rank and ends the job (exit $rc after ${elapsed}s)" "$log/out" "$log/err"
fi

expect_ok "allreduce-bench runs on 2 ranks" mpirun -np 2 "$BIN/asl-dist-train" allreduce-bench --max-bytes 1048576

# When the transport is forced (OMPI_MCA_btl, e.g. self,tcp: the path between nodes), the setting must be what
# carries the traffic: without a transport between processes ("self" alone) the same job cannot start.
if [ -n "${OMPI_MCA_btl:-}" ]; then
    OMPI_MCA_btl=self timeout 60 mpirun -np 2 "$BIN/asl-dist-train" comm-check >"$log/out" 2>&1
    rc=$?
    # Open MPI words it as unreachable peers, or (when its help-text lookup fails) only as MPI_Init failing.
    if [ $rc -ne 0 ] && grep -q "unable to reach each other\|unreachable\|error occurred in MPI_Init" "$log/out"; then
        pass "the forced transport is the one in use (btl self alone cannot connect the ranks; tests ran on btl $OMPI_MCA_btl)"
    else fail "the forced transport is the one in use (btl self alone: exit $rc)" "$log/out"; fi
fi

rm -rf "$log"
echo "${TEST_LABEL:-mpi}: $passed passed, $failed failed"
[ $failed -eq 0 ]
