#!/usr/bin/env bash
# Long-run resilience tests under mpirun: stop signals (to one rank, to mpirun, Ctrl-C alone) checkpoint and exit 75
# and `--resume auto` finishes with the weights of an uninterrupted run; `supervise` restarts a job that lost a rank
# (also onto fewer ranks, keeping the global batch) and does not retry bad flags; a kill at every rename of a
# checkpoint write leaves the newest complete checkpoint to resume from; damaged checkpoints are named, and
# `--resume auto` falls back past them; time-based and kept checkpoints.
# Prints "resilience: N passed, N failed"; exits non-zero on failure.
set -u
BIN=${1:-.build/release}
source "$(dirname "$0")/common.sh"

T="$BIN/asl-dist-train"
# The tiny C3D of run-train-tests.sh (56 training clips: 7 steps of 8 per epoch), at a constant learning rate so
# that a run's weights depend only on the steps taken, one OpenBLAS thread per rank, a line per step.
COMMON="--threads 1 --train $work/shards --arch c3d --width 8 --frames 8 --crop-size 40 --seed 7 --lr 0.005 \
--schedule constant --log-every 1"
same_weights() {  # same_weights A_RUN B_RUN TOLERANCE LOG
    "$T" compare-weights "$1/checkpoints/last/model.safetensors" "$2/checkpoints/last/model.safetensors" \
        --tolerance "$3" >"$4" 2>&1
}
saved_step() { grep -o '"step" : [0-9]*' "$1/checkpoints/last/state.json" 2>/dev/null | grep -o '[0-9]*$'; }
steps_logged() { grep -c '^step ' "$1" 2>/dev/null; }
# Waits until run log $1 shows at least $2 steps (at most 60 s).
wait_steps() { for _ in $(seq 1 600); do [ "$(steps_logged "$1")" -ge "$2" ] && return 0; sleep 0.1; done; return 1; }
rank_pid() { pgrep -f "asl-dist-train.*--out $1" | while read -r p; do
    [ "$(ps -o comm= -p "$p")" = "asl-dist-train" ] && echo "$p"; done | sort -n | sed -n "${2}p"; }

# References: uninterrupted runs of 30 steps (4 epochs and 2 steps), on 2 ranks × 4 and on 1 rank × 8.
mpirun -np 2 "$T" $COMMON --steps 30 --batch-size 4 --out "$work/ref2" >"$work/ref2.log" 2>&1 &&
"$T" $COMMON --steps 30 --batch-size 8 --out "$work/ref1" >"$work/ref1.log" 2>&1 ||
    { fail "reference runs" "$work/ref2.log" "$work/ref1.log"; echo "resilience: $passed passed, $failed failed"; exit 1; }

# 1. A stop signal mid-epoch: every rank stops within one step of it, checkpoints/last is complete, the status is 75;
#    the same command with --resume auto then finishes with the uninterrupted run's weights.
#    signal_test ID NAME SIGNAL TARGET(rank|mpirun|alone)
signal_test() {
    local out="$work/sig-$1" name=$2 sig=$3 target=$4 launcher ref
    rm -rf "$out"
    if [ "$target" = alone ]; then launcher=""; ref=ref1; set -- --batch-size 8
    else launcher="mpirun -np 2"; ref=ref2; set -- --batch-size 4; fi
    $launcher "$T" $COMMON --steps 30 "$@" --out "$out" --resume auto >"$out.log" 2>&1 &
    local pid=$! before after rc stepped elapsed start
    wait_steps "$out.log" 10
    before=$(steps_logged "$out.log")
    case $target in
        rank) kill -"$sig" "$(rank_pid "$out" 2)" ;;
        *) kill -"$sig" "$pid" ;;
    esac
    start=$(date +%s)
    wait $pid; rc=$?
    elapsed=$(( $(date +%s) - start ))
    stepped=$(saved_step "$out")
    if [ $rc -eq 75 ] && [ -n "$stepped" ] && [ "$stepped" -le $((before + 2)) ] && [ "$stepped" -lt 30 ] &&
        [ $elapsed -le 20 ] && grep -q "stopped by .* at epoch [0-9]*, step $stepped" "$out.log" &&
        [ "$(grep -c "$sig received" "$out.log")" -ge 1 ]; then
        pass "$name: exit 75 after ${elapsed}s, stopped at step $stepped (signal after step $before)"
    else
        fail "$name: exit $rc, saved step ${stepped:-none}, signal after step $before" "$out.log"; return
    fi
    if $launcher "$T" $COMMON --steps 30 "$@" --out "$out" --resume auto >"$out.resume.log" 2>&1 &&
        grep -q "resuming from .*step-0*$stepped " "$out.resume.log" && [ "$(saved_step "$out")" = 30 ] &&
        same_weights "$work/$ref" "$out" 1e-6 "$out.cmp"; then
        pass "$name: --resume auto finishes with the uninterrupted run's weights: $(tail -1 "$out.cmp")"
    else fail "$name: --resume auto finishes with the uninterrupted run's weights" "$out.resume.log" "$out.cmp"; fi
}
signal_test term "SIGTERM to one rank of 2" TERM rank
signal_test usr1 "SIGUSR1 to mpirun" USR1 mpirun
signal_test int "SIGINT to a single rank" INT alone

# SIGTERM to mpirun itself (scancel, preemption): Open MPI passes SIGTERM to the ranks odls_base_sigkill_timeout
# seconds later and SIGKILL as long after that; with a few seconds the ranks save, and mpirun itself exits 1. (80
# steps: the ranks keep training during the delay; the constant schedule makes any total comparable.)
out="$work/sig-mpirun-term"
mpirun -np 2 "$T" $COMMON --steps 80 --batch-size 4 --out "$work/ref80" >"$work/ref80.log" 2>&1
OMPI_MCA_odls_base_sigkill_timeout=3 mpirun -np 2 "$T" $COMMON --steps 80 --batch-size 4 --out "$out" --resume auto \
    >"$out.log" 2>&1 &
pid=$!
wait_steps "$out.log" 10
kill -TERM $pid; wait $pid; rc=$?
stepped=$(saved_step "$out")
if [ $rc -ne 0 ] && [ -n "$stepped" ] && [ "$stepped" -lt 80 ] && grep -q "stopped by SIGTERM at epoch [0-9]*, step $stepped" "$out.log" &&
    mpirun -np 2 "$T" $COMMON --steps 80 --batch-size 4 --out "$out" --resume auto >"$out.resume.log" 2>&1 &&
    grep -q "resuming from .*step-0*$stepped " "$out.resume.log" && same_weights "$work/ref80" "$out" 1e-6 "$out.cmp"; then
    pass "SIGTERM to mpirun (sigkill timeout 3 s): saved at step $stepped, resumed to the same weights: $(tail -1 "$out.cmp")"
else fail "SIGTERM to mpirun: saved and resumed (exit $rc, step ${stepped:-none})" "$out.log" "$out.resume.log"; fi

# 2. supervise: SIGKILL of one rank ends the job; the supervisor restarts it from the last checkpoint (the reason and
#    the count logged), and the hosts it discovers before the restart have one slot less: the job continues on 1
#    rank with the global batch of 8 kept (batch 8 per rank) and finishes. (Its weights are compared loosely: 18
#    steps on another rank count drift apart by float rounding, up to 3e-4 in BN running variances here; test 3
#    compares the step after such a restart exactly.)
echo "localhost:2" >"$work/hosts"
out="$work/sup"
"$T" supervise --max-restarts 2 --backoff 0.5 --discover-hosts "cat $work/hosts" -- \
    mpirun -np {np} --hostfile {hostfile} "$T" $COMMON --steps 30 --batch-size 4 --checkpoint-every 1 \
    --out "$out" --resume auto >"$out.log" 2>&1 &
sup=$!
wait_steps "$out.log" 12
echo "localhost:1" >"$work/hosts"
kill -9 "$(rank_pid "$out" 2)"
wait $sup; rc=$?
if [ $rc -eq 0 ] && grep -q "restart 1 of 2 after status 137 (killed by signal 9)" "$out.log" &&
    grep -q "resuming 2-rank checkpoint on 1 rank(s): global batch 8 kept as 1 × 8" "$out.log" &&
    grep -q "the job finished after 1 restart(s)" "$out.log" && [ "$(saved_step "$out")" = 30 ] &&
    same_weights "$work/ref2" "$out" 1e-2 "$out.cmp"; then
    pass "supervise restarts a job that lost a rank on the hosts left, global batch kept: $(tail -1 "$out.cmp")"
else fail "supervise restarts a job that lost a rank on the hosts left (exit $rc)" "$out.log" "$out.cmp"; fi

# A bad flag is not retried.
"$T" supervise --max-restarts 3 --backoff 0 -- mpirun -np 2 "$T" $COMMON --steps 3 --batch-size 4 --out "$work/bad" \
    --resume auto --no-such-flag >"$work/bad.log" 2>&1
rc=$?
if [ $rc -eq 64 ] && [ "$(grep -c "supervise: attempt" "$work/bad.log")" = 1 ] &&
    grep -q "bad flags); a restart cannot fix that: not restarting" "$work/bad.log"; then
    pass "supervise does not retry a bad flag (exit $rc after one attempt)"
else fail "supervise does not retry a bad flag (exit $rc)" "$work/bad.log"; fi

# 3. Preempted on 2 ranks, restarted on 1 with the same global batch: the first step after the restart equals the
#    2-rank step from the same checkpoint (so the sampler resumed at the same clip of the epoch), and the run
#    finishes all its steps.
out="$work/pre"
mpirun -np 2 "$T" $COMMON --steps 30 --batch-size 4 --out "$out" --resume auto >"$out.log" 2>&1 &
pid=$!
wait_steps "$out.log" 11
kill -USR1 "$pid"; wait $pid
s=$(saved_step "$out")
cp -r "$out" "$out-2ranks"
if [ -n "$s" ] && [ "$(( (s * 8) % 56 ))" -ne 0 ] &&
    "$T" $COMMON --steps $((s + 1)) --batch-size 8 --out "$out" --resume auto >"$out.1.log" 2>&1 &&
    mpirun -np 2 "$T" $COMMON --steps $((s + 1)) --batch-size 4 --out "$out-2ranks" --resume auto >"$out.2.log" 2>&1 &&
    same_weights "$out-2ranks" "$out" 1e-6 "$out.cmp"; then
    pass "restart on 1 rank: the step after the preemption at step $s (mid-epoch) equals 2 ranks': $(tail -1 "$out.cmp")"
else fail "restart on 1 rank: the step after the preemption (step ${s:-none}) equals 2 ranks'" "$out.log" "$out.1.log" "$out.2.log" "$out.cmp"; fi
if "$T" $COMMON --steps 30 --batch-size 8 --out "$out" --resume auto >"$out.3.log" 2>&1 && [ "$(saved_step "$out")" = 30 ] &&
    [ "$(grep -c '^step ' "$out.3.log")" = $((30 - s - 1)) ] && same_weights "$work/ref2" "$out" 1e-2 "$out.cmp"; then
    pass "restart on 1 rank finishes all 30 steps: $(tail -1 "$out.cmp")"
else fail "restart on 1 rank finishes all 30 steps" "$out.3.log" "$out.cmp"; fi
# Another split of the global batch that is not possible names the rank counts that are.
mpirun -np 3 --oversubscribe "$T" $COMMON --steps 30 --batch-size 4 --out "$out-2ranks" --resume auto >"$out.4.log" 2>&1
rc=$?
if [ $rc -eq 65 ] && grep -q "cannot be split evenly over 3 ranks; rank counts that keep it: 1, 2, 4, 8" "$out.4.log"; then
    pass "a rank count that cannot keep the global batch is refused, naming the ones that can (exit $rc)"
else fail "a rank count that cannot keep the global batch is refused (exit $rc)" "$out.4.log"; fi

# 4. A kill at each rename a run makes (checkpoints every step, history at the end): --resume auto resumes from the
#    newest checkpoint that was complete at the kill (never from scratch when one existed) and ends equal to an
#    uninterrupted run.
# Prints the newest step directory under $1/checkpoints whose files are all there and whole, or nothing.
newest_complete() {
    python3 - "$1/checkpoints" <<'EOF'
import json, os, struct, sys
root = sys.argv[1]
def whole(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    return len(data) == 8 + n + end
best = None
for name in os.listdir(root) if os.path.isdir(root) else []:
    parts = name.split("-")
    if parts[0] != "step" or os.path.islink(os.path.join(root, name)):
        continue
    d = os.path.join(root, name)
    try:
        json.load(open(os.path.join(d, "state.json")))
        ok = whole(os.path.join(d, "model.safetensors")) and whole(os.path.join(d, "optimizer.safetensors"))
    except Exception:
        ok = False
    key = (int(parts[1]), int(parts[2]) if len(parts) > 2 else 0)
    if ok and (best is None or key > best[0]):
        best = (key, name)
print(best[1] if best else "")
EOF
}
KILLRUN="$COMMON --steps 3 --batch-size 8 --checkpoint-every 1"
"$T" $KILLRUN --out "$work/kref" >"$work/kref.log" 2>&1
strace -f -qq -e trace=rename -o "$work/renames" "$T" $KILLRUN --out "$work/kcount" >/dev/null 2>&1
renames=$(grep -c 'rename(' "$work/renames")
bad=""
for n in $(seq 1 "$renames"); do
    out="$work/kill-$n"
    strace -f -qq -o /dev/null -e trace=rename -e inject=rename:signal=KILL:when=$n "$T" $KILLRUN --out "$out" \
        >"$out.log" 2>&1
    killed=$?
    expect=$(newest_complete "$out")
    "$T" $KILLRUN --out "$out" --resume auto >"$out.resume.log" 2>&1 || { bad="$bad $n(resume failed)"; continue; }
    if [ $killed -eq 0 ]; then bad="$bad $n(not killed)"
    elif [ -n "$expect" ] && ! grep -q "resuming from .*/$expect " "$out.resume.log"; then bad="$bad $n(not from $expect)"
    elif [ -z "$expect" ] && ! grep -q "starting a new run" "$out.resume.log"; then bad="$bad $n(no fresh start)"
    elif ! same_weights "$work/kref" "$out" 1e-6 "$out.cmp"; then bad="$bad $n(weights differ)"; fi
done
if [ "$renames" -ge 10 ] && [ -z "$bad" ]; then
    pass "killed at each of $renames renames, --resume auto continues from the newest complete checkpoint and ends equal"
else first=${bad# }; fail "killed at each of $renames renames: failures:$bad" "$work/kill-${first%%(*}.resume.log"; fi

# 5. Damaged checkpoints (a crash outside the atomic write, e.g. a full disk): --resume names the file; --resume auto
#    falls back to the newest complete kept checkpoint and says so. Also: time-based checkpoints, and
#    --keep-checkpoints keeping that many.
out="$work/dmg"
"$T" $COMMON --steps 6 --batch-size 8 --checkpoint-every 1 --keep-checkpoints 3 --out "$out" >"$out.log" 2>&1
kept=$(ls -d "$out"/checkpoints/step-* 2>/dev/null | wc -l)
if [ "$kept" = 3 ] && [ -L "$out/checkpoints/last" ]; then pass "--keep-checkpoints 3 keeps 3 step checkpoints, last a link"
else fail "--keep-checkpoints 3 keeps 3 step checkpoints (found $kept)" "$out.log"; fi
newest=$(basename "$(readlink "$out/checkpoints/last")")
truncate -s 1000 "$out/checkpoints/$newest/model.safetensors"
"$T" $COMMON --steps 8 --batch-size 8 --out "$out" --resume "$out" >"$out.e.log" 2>&1
rc=$?
if [ $rc -eq 65 ] && grep -q "$newest.*model.safetensors" "$out.e.log" && grep -q "resume auto falls back" "$out.e.log"; then
    pass "--resume names the truncated model.safetensors of $newest (exit $rc)"
else fail "--resume names the truncated model.safetensors (exit $rc)" "$out.e.log"; fi
second=$(ls -d "$out"/checkpoints/step-* | sort | tail -2 | head -1 | xargs basename)
rm "$out/checkpoints/$second/state.json"
"$T" $COMMON --steps 8 --batch-size 8 --out "$out" --resume auto >"$out.a.log" 2>&1
rc=$?
third=$(sed -n 's#^resuming from .*/\(step-[0-9-]*\) .*#\1#p' "$out.a.log")
if [ $rc -eq 0 ] && grep -q "skipping .*$newest.*model.safetensors" "$out.a.log" &&
    grep -q "skipping .*$second.*state.json is missing" "$out.a.log" && [ -n "$third" ] && [ "$third" != "$second" ] &&
    [ "$(saved_step "$out")" = 8 ]; then
    pass "--resume auto skips the damaged $newest and $second, resumes from $third and finishes; last -> $(readlink "$out/checkpoints/last")"
else fail "--resume auto falls back past damaged checkpoints (exit $rc)" "$out.a.log"; fi

out="$work/time"
"$T" $COMMON --steps 40 --batch-size 8 --checkpoint-minutes 0.01 --keep-checkpoints 100 --out "$out" >"$out.log" 2>&1
n=$(ls -d "$out"/checkpoints/step-* 2>/dev/null | wc -l)
if [ "$n" -ge 3 ]; then pass "--checkpoint-minutes 0.01 writes checkpoints during the run ($n kept)"
else fail "--checkpoint-minutes writes checkpoints during the run ($n)" "$out.log"; fi

# A run directory of the older layout (last/ and best/ real directories) is moved behind links and resumed.
out="$work/legacy"
cp -r "$work/ref1" "$out"
for link in last best; do
    [ -L "$out/checkpoints/$link" ] || continue
    target=$(readlink "$out/checkpoints/$link"); rm "$out/checkpoints/$link"; cp -r "$out/checkpoints/$target" "$out/checkpoints/$link"
done
rm -rf "$out"/checkpoints/step-*
if "$T" $COMMON --steps 31 --batch-size 8 --out "$out" --resume auto >"$out.log" 2>&1 &&
    grep -q "moved last/ to step-00000030/ behind a link" "$out.log" && [ "$(saved_step "$out")" = 31 ] &&
    [ -L "$out/checkpoints/last" ]; then
    pass "a run directory with last/ as a directory is migrated and resumed"
else fail "a run directory with last/ as a directory is migrated and resumed" "$out.log"; fi

# 6. hostfiles/slurm.sbatch outside Slurm (the variables it reads set by hand, scontrol a stub that records its
#    arguments): Slurm's warning signal (SIGUSR1 to the batch shell) stops and saves, the script requeues the job
#    and exits 75; its second run continues from the checkpoint and finishes.
mkdir -p "$work/stub"
printf '#!/bin/sh\necho "$@" >>"%s"\n' "$work/scontrol.calls" >"$work/stub/scontrol"
chmod +x "$work/stub/scontrol"
out="$work/slurm"
# Runs the script in place of the calling (sub)shell: the signal below must reach the batch script's own shell, as
# Slurm's does, so it is started as `slurm_run &` (its pid is $!) and run again as `(slurm_run)`.
slurm_run() {
    export PATH="$work/stub:$PATH" SLURM_JOB_ID=42 SLURM_NTASKS_PER_NODE=2 SLURM_CPUS_PER_TASK=1 ASL_BIN="$BIN"
    exec bash hostfiles/slurm.sbatch $COMMON --steps 30 --batch-size 4 --out "$out" >>"$out.log" 2>&1
}
slurm_run &
job=$!
wait_steps "$out.log" 8
kill -USR1 $job
wait $job; rc=$?
s=$(saved_step "$out")
if [ $rc -eq 75 ] && [ "$(cat "$work/scontrol.calls" 2>/dev/null)" = "requeue 42" ] && [ -n "$s" ] && [ "$s" -lt 30 ] &&
    (slurm_run) && [ "$(saved_step "$out")" = 30 ] && grep -q "resuming from .*step-0*$s " "$out.log" &&
    same_weights "$work/ref2" "$out" 1e-6 "$out.cmp"; then
    pass "slurm.sbatch: the warning signal saves at step $s and requeues; the requeued run finishes: $(tail -1 "$out.cmp")"
else fail "slurm.sbatch: warning signal, requeue, continue (exit $rc, saved step ${s:-none})" "$out.log" "$work/scontrol.calls"; fi

echo "resilience: $passed passed, $failed failed"
[ $failed -eq 0 ]
