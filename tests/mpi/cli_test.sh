#!/usr/bin/env bash
# The ldm command under mpiexec: 1, 2 and 3 processes write byte-identical model and sample
# files (a numeric table and a mixed, conditional one), the same as one process without
# mpiexec; a run stopped on 2 processes and resumed on 3 ends as one uninterrupted run; a bad
# file or a killed process ends the job with a non-zero status, one error line and no model.
#   cli_test.sh LDM DIR MPIEXEC NUMPROC_FLAG "EXTRA FLAGS" DATA_DIR
set -uo pipefail
ldm=$1
dir=$2
mpiexec=$3
np_flag=$4
read -r -a extra <<< "$5"
data=$6
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
on() { local n=$1; shift; "$mpiexec" "$np_flag" "$n" "${extra[@]}" "$ldm" "$@"; }
# The same in the background, so that $! is mpiexec itself (a backgrounded function is a subshell).
on_background() { local n=$1; shift; "$mpiexec" "$np_flag" "$n" "${extra[@]}" "$ldm" "$@" & }

head -401 "$data/digits.csv" > digits.csv
small="--latent-size 8 --hidden-size 32 --num-layers 1 --num-steps 50 --vae-steps 60 --denoiser-steps 60 --threads 1"
for n in 1 2 3; do
  on $n train --data digits.csv --drop-column label --out m$n.safetensors $small 2> train$n.log \
    || fail "train on $n processes exited $?: $(tail -3 train$n.log)"
  on $n sample --model m1.safetensors -n 300 --batch-rows 40 --steps 10 --threads 1 --out s$n.csv 2> /dev/null \
    || fail "sample on $n processes exited $?"
done
grep -q "data parallel on 3 processes, each batch in 4 chunks" train3.log || fail "no data-parallel line: $(cat train3.log)"
[ "$(grep -c 'ldm: wrote' train3.log)" -eq 1 ] || fail "rank 0 alone should report: $(grep 'ldm: wrote' train3.log)"
"$ldm" train --data digits.csv --drop-column label --out m0.safetensors $small 2> /dev/null || fail "train alone exited $?"
"$ldm" sample --model m1.safetensors -n 300 --batch-rows 40 --steps 10 --threads 1 --out s0.csv 2> /dev/null
for n in 0 2 3; do
  cmp -s m1.safetensors m$n.safetensors || fail "the model of $n processes differs from 1 process's"
  cmp -s s1.csv s$n.csv || fail "the samples of $n processes differ from 1 process's"
done
[ "$(wc -l < s1.csv)" -eq 301 ] || fail "samples have $(wc -l < s1.csv) lines, expected 301"

# A mixed table (text, missing cells) with a class column, conditional sampling per class.
mixed="--latent-size 4 --hidden-size 16 --num-layers 1 --num-steps 20 --vae-steps 30 --denoiser-steps 30 --threads 1"
for n in 1 3; do
  on $n train --data "$data/penguins.csv" --label-column species --out p$n.safetensors $mixed 2> /dev/null \
    || fail "mixed train on $n processes exited $?"
  on $n sample --model p1.safetensors --per-class 30 --batch-rows 8 --steps 10 --threads 1 --out ps$n.csv 2> /dev/null \
    || fail "per-class sample on $n processes exited $?"
done
cmp -s p1.safetensors p3.safetensors || fail "the mixed model of 3 processes differs from 1 process's"
cmp -s ps1.csv ps3.csv || fail "the per-class samples of 3 processes differ from 1 process's"

# Stopped (SIGTERM to mpiexec, which passes it on; SIGINT too, but a script's background job ignores
# SIGINT) on 2 processes, resumed on 3: the same model as one run.
# Enough VAE steps (~5 s on an idle machine) that the signal, sent once the first progress line
# is out, lands in the VAE phase.
long="--latent-size 8 --hidden-size 32 --num-layers 1 --num-steps 50 --vae-steps 100000 --denoiser-steps 20 --threads 1"
on_background 2 train --data digits.csv --drop-column label --out r.safetensors $long 2> stop.log
job=$!
for _ in $(seq 300); do grep -q "vae step" stop.log && break; sleep 0.1; done
kill -TERM $job
wait $job
status=$?
[ $status -ne 0 ] || fail "an interrupted run exited 0"
[ -s r.safetensors.checkpoint.safetensors ] || fail "no checkpoint after SIGTERM: $(tail -3 stop.log)"
[ -e r.safetensors ] && fail "an interrupted run wrote the model"
on 3 train --data digits.csv --drop-column label --out r.safetensors $long \
  --resume r.safetensors.checkpoint.safetensors 2> resume.log || fail "resume on 3 exited $?: $(tail -3 resume.log)"
"$ldm" train --data digits.csv --drop-column label --out whole.safetensors $long 2> /dev/null
cmp -s whole.safetensors r.safetensors || fail "stopped on 2 and resumed on 3 differs from one run"
on 2 train --data digits.csv --drop-column label --out r.safetensors $long --chunks 2 \
  --resume r.safetensors.checkpoint.safetensors 2> chunks.log && fail "a resume with other chunks was accepted"
grep -q "made with chunks 4, now 2" chunks.log || fail "other chunks: $(cat chunks.log)"

# A bad file: every process fails; one error line, a non-zero status, no model.
printf 'a,b\n1,2\n3\n' > bad.csv
on 3 train --data bad.csv --out bad.safetensors 2> bad.log && fail "a ragged CSV trained"
[ "$(grep -c '^ldm: error' bad.log)" -eq 1 ] || fail "expected one error line: $(cat bad.log)"
grep -q "bad.csv:3" bad.log || fail "the error does not name the line: $(cat bad.log)"
[ -e bad.safetensors ] && fail "a failed run wrote a model"

# A process killed mid-run: the job ends within seconds, non-zero, without a model.
on_background 2 train --data digits.csv --drop-column label --out k.safetensors $long 2> kill.log
job=$!
for _ in $(seq 100); do grep -q "vae step" kill.log && break; sleep 0.1; done
victim=$(pgrep -f "$ldm train --data digits.csv --drop-column label --out k.safetensors" | tail -1)
kill -9 "$victim"
start=$SECONDS
wait $job
status=$?
[ $status -ne 0 ] || fail "a job with a killed process exited 0"
[ $((SECONDS - start)) -le 20 ] || fail "the job took $((SECONDS - start)) s to end after a kill"
[ -e k.safetensors ] && fail "a job with a killed process wrote a model"

# An option that cannot work on this many processes.
on 3 train --data digits.csv --drop-column label --out c.safetensors $small --chunks 2 2> chunks2.log \
  && fail "3 processes with 2 chunks trained"
grep -q "3 processes but only 2 chunks" chunks2.log || fail "chunks < processes: $(cat chunks2.log)"

# A table smaller than the default 4 chunks: at the defaults as many chunks as it has rows, on
# 1 and 3 processes alike; asked for 4 chunks, refused with the count that works.
head -4 digits.csv > three.csv
for n in 1 3; do
  on $n train --data three.csv --drop-column label --out t$n.safetensors $small 2> three$n.log \
    || fail "a 3-row table on $n processes exited $?: $(tail -2 three$n.log)"
done
cmp -s t1.safetensors t3.safetensors || fail "a 3-row table: 1 and 3 processes differ"
grep -q "each batch in 3 chunks" three3.log || fail "3-row table: $(grep chunks three3.log)"
on 1 train --data three.csv --drop-column label --out t.safetensors $small --chunks 4 2> three4.log \
  && fail "4 chunks of a 3-row batch trained"
grep -q "give 3 chunks or fewer" three4.log || fail "4 chunks of 3 rows: $(cat three4.log)"

[ $failures -eq 0 ] && echo "mpi cli test passed"
exit $((failures > 0))
