#!/usr/bin/env bash
# End-to-end test of the ldm command: train -> sample -> eval on a small CSV, then every kind
# of bad input must give one clear error line and a non-zero status, never a crash.
set -uo pipefail
ldm=$1
dir=$2
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# The help a newcomer sees first lists the subcommands and a first run.
"$ldm" --help > help.txt 2>&1 || fail "ldm --help exited $?"
grep -q "A first run" help.txt && grep -q "ldm sample   --model model.safetensors" help.txt \
  || fail "ldm --help shows no first run: $(cat help.txt)"
"$ldm" > bare.txt 2>&1 && fail "a bare ldm exited 0"
grep -q "A first run" bare.txt || fail "a bare ldm does not show the help: $(cat bare.txt)"

# 200 rows: two integer columns around 2 and 8, a real-valued one, and a label to drop.
awk 'BEGIN { srand(7); print "a,b,c,label";
  for (i = 0; i < 200; i++) { k = i % 2; printf "%d,%d,%.4f,%d\n", 2 + 6 * k + int(rand() * 2), 8 - 6 * k, rand(), k } }' > data.csv
small="--latent-size 2 --hidden-size 16 --num-layers 1 --num-steps 50 --vae-steps 100 --denoiser-steps 100 --batch-size 32"

"$ldm" train --data data.csv --drop-column label --out model.safetensors --seed 3 $small 2> train.log \
  || fail "train exited $?: $(cat train.log)"
[ -s model.safetensors ] || fail "train wrote no model"
grep -q "vae step 100/100" train.log || fail "train printed no plain progress lines: $(head -3 train.log)"
"$ldm" sample --model model.safetensors -n 50 --seed 1 --out s1.csv 2> /dev/null || fail "sample exited $?"
[ "$(head -1 s1.csv)" = "a,b,c" ] || fail "samples header is '$(head -1 s1.csv)'"
[ "$(wc -l < s1.csv)" -eq 51 ] || fail "samples have $(wc -l < s1.csv) lines, expected 51"
# Integer columns come back as integers in range; the real-valued column stays in [0, 1].
awk -F, 'NR > 1 && ($1 != int($1) || $1 < 2 || $1 > 9 || $2 != int($2) || $3 < 0 || $3 > 1) { bad = 1 } END { exit bad }' s1.csv \
  || fail "samples off the data's grid or range: $(sed -n 2,4p s1.csv)"
"$ldm" sample --model model.safetensors -n 50 --seed 1 --out s2.csv 2> /dev/null
cmp -s s1.csv s2.csv || fail "the same seed gave different samples"
# --out - writes the same rows to standard output, and nothing else goes there.
"$ldm" sample --model model.safetensors -n 50 --seed 1 --out - 2> stdout.err > s_stdout.csv || fail "sample --out - exited $?"
cmp -s s1.csv s_stdout.csv || fail "sample --out - differs from --out s1.csv: $(head -2 s_stdout.csv)"
grep -q "wrote 50 rows to standard output" stdout.err || fail "sample --out - said: $(cat stdout.err)"
[ ! -e ./- ] || fail "sample --out - wrote a file named '-'"
for sampler in ddpm dpm++2m; do
  "$ldm" sample --model model.safetensors -n 20 --sampler $sampler --steps 10 --out s_$sampler.csv --threads 1 2> /dev/null \
    || fail "sampler $sampler exited $?"
done
"$ldm" eval --real data.csv --synth s1.csv --train data.csv --drop-column label --json --no-c2st > eval.json \
  || fail "eval exited $?"
grep -q '"ks"' eval.json && grep -q '"exact_copies"' eval.json || fail "eval JSON lacks fields: $(cat eval.json)"
"$ldm" eval --real data.csv --synth s1.csv --drop-column label > eval.txt || fail "eval (table) exited $?"
grep -q "classifier two-sample AUC" eval.txt || fail "eval table lacks the C2ST row: $(cat eval.txt)"

# Conditional: --label-column makes a column (here strings) the class, not a feature; then rows
# of one label, and rows of every class, each with the class column where the file had it. Class
# "high" has a in 8..9 and b = 2, class "low" a in 2..3 and b = 8.
awk -F, 'NR == 1 { print "a,kind,b,c"; next } { print $1 "," ($4 == 0 ? "low" : "high") "," $2 "," $3 }' data.csv > named.csv
cond="--latent-size 2 --hidden-size 32 --num-layers 1 --num-steps 50 --vae-steps 400 --denoiser-steps 1500 --batch-size 32"
"$ldm" train --data named.csv --label-column kind --out cond.safetensors --seed 3 $cond 2> cond.log \
  || fail "conditional train exited $?: $(tail -2 cond.log)"
grep -q "conditional on column 'kind': 2 classes (high, low)" cond.log || fail "no classes line: $(head -3 cond.log)"
"$ldm" sample --model cond.safetensors -n 40 --label high --seed 1 --out high.csv 2> /dev/null || fail "sample --label exited $?"
[ "$(head -1 high.csv)" = "a,kind,b,c" ] || fail "labelled samples header is '$(head -1 high.csv)'"
[ "$(wc -l < high.csv)" -eq 41 ] || fail "labelled samples have $(wc -l < high.csv) lines, expected 41"
awk -F, 'NR > 1 { n++; if ($2 == "high" && $1 >= 6 && $3 <= 4) ok++ } END { exit !(ok >= 0.9 * n) }' high.csv \
  || fail "rows sampled with --label high are not mostly class high: $(sed -n 2,4p high.csv)"
"$ldm" sample --model cond.safetensors --per-class 15 --guidance 1 --seed 2 --out per_class.csv 2> /dev/null \
  || fail "sample --per-class exited $?"
[ "$(cut -d, -f2 per_class.csv | grep -c '^high$')" -eq 15 ] && [ "$(cut -d, -f2 per_class.csv | grep -c '^low$')" -eq 15 ] \
  || fail "--per-class 15 did not give 15 rows of each class: $(cut -d, -f2 per_class.csv | sort | uniq -c | tr '\n' ' ')"
awk -F, 'NR > 1 && (($2 == "low") != ($1 < 5.5)) { bad++ } END { exit bad > 3 }' per_class.csv \
  || fail "per-class rows do not follow their class: $(sed -n 2,4p per_class.csv)"
# eval reads a per-class file: its text class column is left out with --drop-column like the
# numeric label column of data.csv.
"$ldm" eval --real data.csv --synth per_class.csv --drop-column label --drop-column kind --json --no-c2st > eval_per_class.json \
  2> eval_per_class.err || fail "eval of a per-class file exited $?: $(cat eval_per_class.err)"
grep -q '"rows_synth": 30' eval_per_class.json || fail "eval of a per-class file: $(cat eval_per_class.json)"

# Bad input: exit status non-zero, one line on stderr naming the problem.
# A mixed table: a text column, an integer column with NA cells, a real column with empty cells.
# The schema is printed, samples come back in it (same header, known categories, missing cells
# written as the file wrote them), and eval, baseline and a class column in place work on it.
awk 'BEGIN { srand(11); print "colour,count,size,id";
  for (i = 0; i < 150; i++) { k = i % 3; c = k == 0 ? "red" : k == 1 ? "green" : "\"dark, blue\"";
    n = i % 10 == 0 ? "NA" : 2 + 3 * k + int(rand() * 2); z = i % 7 == 0 ? "" : sprintf("%.2f", k + rand());
    printf "%s,%s,%s,%d\n", c, n, z, i } }' > mixed.csv
"$ldm" train --data mixed.csv --drop-column id --out mixed.safetensors --schema-out mixed.schema.json --seed 2 $small \
  2> mixed.log || fail "mixed train exited $?: $(tail -2 mixed.log)"
grep -q "colour.*categorical.*3 categories" mixed.log || fail "no schema line for colour: $(head -4 mixed.log)"
grep -q "count.*integer.*missing ('NA')" mixed.log || fail "no schema line for count: $(head -4 mixed.log)"
grep -q "a mixed table (the mixed VAE, its own defaults), encoded rows 7 wide; VAE 100 steps (KL weight 0.001), denoiser 100 steps of 32 rows" mixed.log \
  || fail "a mixed table of 150 rows did not keep FitOptions' VAE: $(grep "VAE .* steps" mixed.log)"
{ cat mixed.csv; tail -n +2 mixed.csv; tail -n +2 mixed.csv; } > mixed450.csv  # 450 rows: the larger tables' VAE
"$ldm" train --data mixed450.csv --drop-column id --out mixed450.safetensors --vae-steps 2 --denoiser-steps 2 \
  --hidden-size 16 --num-layers 1 --num-steps 50 2> mixed450.log || fail "mixed450 train exited $?: $(tail -2 mixed450.log)"
grep -q "a mixed table (the mixed VAE, its own defaults), encoded rows 7 wide; VAE 2 steps (KL weight 1e-05, cosine rate), denoiser 2 steps of 128 rows" \
  mixed450.log || fail "a mixed table of 450 rows did not get its own defaults: $(grep "VAE .* steps" mixed450.log)"
head -n 61 mixed.csv > mixed60.csv  # fewer rows than a batch: a batch is all 60
"$ldm" train --data mixed60.csv --drop-column id --out mixed60.safetensors --vae-steps 2 --denoiser-steps 2 \
  --hidden-size 16 --num-layers 1 --num-steps 50 2> mixed60.log || fail "mixed60 train exited $?: $(tail -2 mixed60.log)"
grep -q "denoiser 2 steps of 60 rows" mixed60.log || fail "a 60-row table's batch is not its 60 rows: $(grep "VAE .* steps" mixed60.log)"
# A column of YYYY-MM-DD dates is a date column: printed as one, its samples dates in its range;
# the same for date-times written YYYY-MM-DDTHH:MM (ISO 8601 to the minute), written back so.
awk 'BEGIN { print "day,x,at"; for (i = 0; i < 120; i++)
  printf "2024-%02d-%02d,%d,2024-03-%02dT%02d:%02d\n", 1 + i % 12, 1 + i % 28, i % 7, 1 + i % 9, i % 24, i % 4 * 15 }' \
  > dates.csv
"$ldm" train --data dates.csv --out dates.safetensors $small 2> dates.log || fail "dates train exited $?: $(tail -2 dates.log)"
grep -q "day  date         2024-01-01..2024-12-28" dates.log || fail "no date line in the schema: $(head -3 dates.log)"
grep -q "at   datetime     2024-03-01T00:00..2024-03-09T23:45" dates.log \
  || fail "no datetime line in the schema: $(head -4 dates.log)"
"$ldm" sample --model dates.safetensors -n 40 --out - 2> /dev/null > dates_sampled.csv \
  || fail "dates sample exited $?"
awk -F, 'NR > 1 && !($1 ~ /^2024-(0[1-9]|1[0-2])-[0-3][0-9]$/) { bad = $0 } END { exit bad != "" }' dates_sampled.csv \
  || fail "a sampled day is not a 2024 date: $(head -4 dates_sampled.csv)"
awk -F, 'NR > 1 && !($3 ~ /^2024-03-0[1-9]T[0-2][0-9]:(00|15|30|45)$/) { bad = $0 } END { exit bad != "" }' \
  dates_sampled.csv || fail "a sampled time is not one the column has: $(head -4 dates_sampled.csv)"
[ "$(wc -l < dates_sampled.csv)" -eq 41 ] || fail "dates: expected 40 rows and a header"
grep -q "ldm: a numeric table, rows 3 wide; VAE 100 steps (KL weight 0.001), denoiser 100 steps of 32 rows" train.log \
  || fail "a numeric table did not keep FitOptions' defaults: $(grep "VAE .* steps" train.log)"
# Rows wider than 128 entries (a column of 450 categories, 457 wide with the others): fewer VAE
# steps by default, floor(20,000 * 210,080 / (144,416 + 513 * 457)) (pipeline/options.hpp).
awk -F, 'NR == 1 { print $0 ",tag" } NR > 1 { print $0 ",t" NR }' mixed450.csv > wide.csv
"$ldm" train --data wide.csv --drop-column id --out wide.safetensors --denoiser-steps 2 --batch-size 4 --hidden-size 16 \
  --num-layers 1 --num-steps 50 2> wide.log || fail "wide train exited $?: $(tail -2 wide.log)"
grep -q "encoded rows 457 wide; VAE 11090 steps (KL weight 1e-05, cosine rate)" wide.log \
  || fail "a 457-wide table did not get the capped VAE budget: $(grep "VAE .* steps" wide.log)"
grep -q '"categorical"' mixed.schema.json || fail "--schema-out wrote no schema: $(head -c 200 mixed.schema.json)"
"$ldm" sample --model mixed.safetensors -n 60 --seed 1 --out mixed_s.csv 2> /dev/null || fail "mixed sample exited $?"
[ "$(head -1 mixed_s.csv)" = "colour,count,size" ] || fail "mixed samples header is '$(head -1 mixed_s.csv)'"
awk -F, 'NR > 1 && $1 != "red" && $1 != "green" && $1 != "\"dark" { bad = 1 } END { exit bad }' mixed_s.csv \
  || fail "mixed samples have unknown categories: $(sed -n 2,4p mixed_s.csv)"
"$ldm" sample --model mixed.safetensors -n 60 --seed 1 --temperature 0 --out mixed_t0.csv 2> /dev/null \
  || fail "sample --temperature 0 exited $?"
"$ldm" eval --real mixed.csv --synth mixed_s.csv --train mixed.csv --drop-column id --target colour --json \
  --no-c2st > mixed_eval.json 2> mixed_eval.err || fail "mixed eval exited $?: $(cat mixed_eval.err)"
grep -q '"shape_error"' mixed_eval.json && grep -q '"utility"' mixed_eval.json \
  || fail "mixed eval JSON lacks fields: $(head -c 300 mixed_eval.json)"
# --report: an HTML page beside the JSON, its figures those of --json; --compare adds a column.
# Held-out rows with a category the training rows lack (a rare one a split can leave out): it is
# one more category of the comparison, not an error.
{ head -1 mixed.csv; sed -n 2,40p mixed.csv; echo 'violet,3,0.5,999'; } > held_out.csv
"$ldm" eval --real held_out.csv --synth mixed_s.csv --train mixed.csv --drop-column id --no-c2st --json \
  > unseen_eval.json 2> unseen.err || fail "eval with an unseen held-out category exited $?: $(cat unseen.err)"
grep -q '"shape_error"' unseen_eval.json || fail "eval with an unseen category: $(head -c 300 unseen_eval.json)"
"$ldm" eval --real mixed.csv --synth mixed_s.csv --train mixed.csv --drop-column id --no-c2st --json \
  --report report.html --compare mixed_t0.csv > report_eval.json 2> report.err || fail "eval --report exited $?: $(cat report.err)"
shape=$(sed -n 's/^  "shape_error": \(.*\),$/\1/p' report_eval.json)
grep -q "title=\"$shape\"" report.html || fail "the report lacks the shape error $shape of --json"
grep -q "<th class=\"n\">mixed_t0.csv</th>" report.html || fail "the report lacks the --compare column"
"$ldm" eval --real data.csv --synth s1.csv --drop-column label --no-c2st --report numeric.html > /dev/null 2>&1 \
  || fail "eval --report of numeric rows exited $?"
grep -q '<td>mean KS statistic</td>' numeric.html || fail "the numeric report lacks its KS row"
for method in marginals gaussian-copula; do
  "$ldm" baseline --data mixed.csv --drop-column id --method $method -n 40 --out base_$method.csv 2> /dev/null \
    || fail "baseline $method exited $?"
  [ "$(head -1 base_$method.csv)" = "colour,count,size" ] || fail "baseline $method header: $(head -1 base_$method.csv)"
  "$ldm" baseline --data mixed.csv --drop-column id --method $method -n 40 --out - 2> /dev/null | cmp -s - base_$method.csv \
    || fail "baseline $method --out - differs from its file"
done
"$ldm" sample --model mixed.safetensors -n 60 --seed 1 --out - 2> /dev/null | cmp -s - mixed_s.csv \
  || fail "mixed sample --out - differs from --out mixed_s.csv"
"$ldm" sample --model cond.safetensors -n 40 --label high --seed 1 --out - 2> /dev/null | cmp -s - high.csv \
  || fail "sample --label --out - differs from --out high.csv"
# Inputs that can be read once (standard input, a pipe) give what their files give, although a
# command reads a file more than once (its header, then its rows in the comparison's schema).
# Their copies go to TMPDIR and are removed at exit.
mkdir -p input_copies
export TMPDIR=$PWD/input_copies
"$ldm" sample --model mixed.safetensors -n 60 --seed 1 --out - 2> /dev/null | "$ldm" eval --real mixed.csv --synth - \
  --train mixed.csv --drop-column id --no-c2st --json > piped_eval.json 2> piped_eval.err \
  || fail "eval --synth - exited $?: $(cat piped_eval.err)"
"$ldm" eval --real mixed.csv --synth mixed_s.csv --train mixed.csv --drop-column id --no-c2st --json > file_eval.json \
  2> /dev/null || fail "eval of mixed_s.csv exited $?"
cmp -s piped_eval.json file_eval.json || fail "eval --synth - differs from eval of the file: $(head -c 300 piped_eval.json)"
"$ldm" eval --real <(cat mixed.csv) --synth <(cat mixed_s.csv) --train mixed.csv --drop-column id --no-c2st --json \
  > piped_eval.json 2> piped_eval.err || fail "eval of two pipes exited $?: $(cat piped_eval.err)"
cmp -s piped_eval.json file_eval.json || fail "eval of pipes differs from eval of the files"
"$ldm" baseline --data - --drop-column id --method marginals -n 40 --out - < mixed.csv 2> /dev/null \
  | cmp -s - base_marginals.csv || fail "baseline --data - differs from baseline --data mixed.csv"
[ -z "$(ls input_copies)" ] || fail "copies of inputs were left: $(ls input_copies)"
"$ldm" train --data mixed.csv --drop-column id --label-column colour --out mixed_c.safetensors $small 2> /dev/null \
  || fail "mixed conditional train exited $?"
"$ldm" sample --model mixed_c.safetensors --per-class 4 --out mixed_c.csv 2> /dev/null || fail "mixed per-class exited $?"
[ "$(head -1 mixed_c.csv)" = "colour,count,size" ] || fail "the class column moved: $(head -1 mixed_c.csv)"
[ "$(grep -c '^green,' mixed_c.csv)" -eq 4 ] || fail "--per-class 4 gave $(grep -c '^green,' mixed_c.csv) green rows"
"$ldm" train --data - --drop-column id --label-column colour --out piped_c.safetensors $small < mixed.csv 2> piped_c.log \
  || fail "train --data - --label-column exited $?: $(tail -1 piped_c.log)"
cmp -s piped_c.safetensors mixed_c.safetensors || fail "train --data - made another model than --data mixed.csv"
grep -q "columns of standard input" piped_c.log || fail "train --data - said: $(head -1 piped_c.log)"
[ -z "$(ls input_copies)" ] || fail "copies of inputs were left: $(ls input_copies)"
unset TMPDIR
"$ldm" train --data mixed.csv --drop-column id --categorical count --na-values NA --out mixed_k.safetensors $small \
  2> mixed_k.log || fail "train with --categorical exited $?"
grep -q "count.*categorical" mixed_k.log || fail "--categorical count was not taken: $(sed -n 2,4p mixed_k.log)"
"$ldm" train --data mixed.csv --drop-column id --out tiny.safetensors --vae-steps 20 --denoiser-steps 50 \
  2> /dev/null || fail "a budget of 50 denoiser steps was refused"
# --options: FitOptions as JSON, keys left out keep their defaults, the flags given win over the file.
printf '{"model": {"latent_size": 3, "time_embedding": "raw"}, "denoiser": {"min_snr_gamma": 5}}' > fit.json
"$ldm" train --data data.csv --drop-column label --out opt.safetensors --options fit.json $small 2> opt.log \
  || fail "train --options exited $?: $(tail -2 opt.log)"
header=$(head -c 4000 opt.safetensors | tr -d '\\\000')
grep -q '"time_embedding":"raw"' <<< "$header" || fail "--options: time_embedding not raw: ${header:0:300}"
grep -q '"latent_size":"2"\|"latent_size":2' <<< "$header" || fail "--latent-size 2 did not win over the file"
printf '{"denoiser": {"min_snr": 5}}' > typo.json
printf '{"denoiser": ' > broken.json
# A v-prediction model records its target, and ldm sample samples it as one.
printf '{"denoiser": {"prediction": "v"}}' > v.json
"$ldm" train --data data.csv --drop-column label --out v.safetensors --options v.json $small 2> v.log \
  || fail "train --options v.json exited $?: $(tail -2 v.log)"
head -c 4000 v.safetensors | grep -q '"prediction":"v"' || fail "the v-prediction model does not record it"
! head -c 4000 opt.safetensors | grep -q '"prediction"' || fail "an epsilon model records a prediction"
"$ldm" sample --model v.safetensors -n 20 --out v.csv 2> v.log || fail "sampling the v model exited $?"
[ "$(wc -l < v.csv)" -eq 21 ] || fail "v.csv has $(wc -l < v.csv) lines, expected 21"

expect_error() {  # expect_error PATTERN command...
  local pattern=$1; shift
  "$@" > out.txt 2> err.txt
  local status=$?
  [ $status -ne 0 ] || fail "'$*' exited 0"
  [ $status -lt 128 ] || fail "'$*' crashed with status $status"
  grep -q -- "$pattern" err.txt || fail "'$*' said '$(cat err.txt)', expected '$pattern'"
}
printf 'a,b,c\n1,2,3\n3,x\n' > bad.csv
printf 'not a model' > bad.safetensors
expect_error "No such file\|does not exist" "$ldm" train --data missing.csv --out m.safetensors
expect_error "bad.csv:3: .*2 cells\|bad.csv:3" "$ldm" train --data bad.csv --out m.safetensors
expect_error "standard input:3" "$ldm" baseline --data - --method marginals -n 5 --out x.csv < bad.csv
expect_error "no numeric column 'nope'\|nope" "$ldm" train --data data.csv --drop-column nope --out m.safetensors
expect_error "bad.safetensors" "$ldm" sample --model bad.safetensors -n 5 --out x.csv
expect_error "at least 1" "$ldm" sample --model model.safetensors -n 0 --out x.csv
expect_error "sampler" "$ldm" sample --model model.safetensors -n 5 --sampler euler --out x.csv
expect_error "steps" "$ldm" sample --model model.safetensors -n 5 --steps 500 --out x.csv
expect_error "hidden_size must be even" "$ldm" train --data data.csv --drop-column label --out m.safetensors --hidden-size 15
expect_error "differ" "$ldm" eval --real data.csv --synth s1.csv
expect_error "no input file has that column" "$ldm" eval --real data.csv --synth s1.csv --drop-column nope
awk -F, 'BEGIN { OFS = "," } NR > 1 { $4 = "L" $4 } { print }' data.csv > text_label.csv
expect_error "column 'label'.*not a number.*--drop-column" "$ldm" eval --real data.csv --synth text_label.csv --no-c2st
expect_error "saving no/such/page.html" "$ldm" eval --real data.csv --synth s1.csv --drop-column label --report no/such/page.html
expect_error "needs --report" "$ldm" eval --real data.csv --synth s1.csv --drop-column label --compare s2.csv
expect_error "bad.csv" "$ldm" eval --real mixed.csv --synth mixed_s.csv --drop-column id --no-c2st --report r.html --compare bad.csv
expect_error "s1.csv" "$ldm" eval --real mixed.csv --synth mixed_s.csv --drop-column id --no-c2st --report r.html --compare s1.csv
[ ! -e r.html ] || fail "a failed eval --report left r.html behind"
expect_error "unknown\|extra\|not expected\|The following argument" "$ldm" train --data data.csv --out m.safetensors --bogus
expect_error "no such column" "$ldm" train --data mixed.csv --label-column nope --out m.safetensors
expect_error "more than 10 categories.*--drop-column\|--drop-column" "$ldm" train --data mixed.csv --categorical id --max-categories 10 --out m.safetensors
expect_error "threads" "$ldm" train --data data.csv --drop-column label --out m.safetensors --threads -1
expect_error "unknown label 'medium'.*high, low" "$ldm" sample --model cond.safetensors -n 5 --label medium --out x.csv
expect_error "unconditional" "$ldm" sample --model model.safetensors -n 5 --label 1 --out x.csv
expect_error "unconditional" "$ldm" sample --model model.safetensors --per-class 5 --out x.csv
expect_error "label-column nope: data.csv has no such column" "$ldm" train --data data.csv --label-column nope --out m.safetensors
expect_error "excludes" "$ldm" sample --model cond.safetensors -n 5 --per-class 3 --out x.csv
expect_error "options typo.json: unknown key 'denoiser.min_snr' (known here: .*min_snr_gamma" "$ldm" train --data data.csv --out m.safetensors --options typo.json
expect_error "options broken.json: .*parse" "$ldm" train --data data.csv --out m.safetensors --options broken.json
[ ! -e m.safetensors ] || fail "a failed train left m.safetensors behind"

# SIGINT mid-training: the step finishes, the state is saved, the exit status is 130, and a
# run resumed from that state writes a model byte-identical to an uninterrupted run's. The
# signal goes out at the first progress line, so the run (~0.4 s in Release) is still in its
# VAE phase or early in the denoiser phase; the resumed run then crosses the phase boundary.
long="--latent-size 2 --hidden-size 32 --num-layers 1 --num-steps 50 --vae-steps 4000 --denoiser-steps 3000 --batch-size 32"
"$ldm" train --data data.csv --drop-column label --out whole.safetensors --seed 5 $long 2> whole.log \
  || fail "uninterrupted run exited $?"
"$ldm" train --data data.csv --drop-column label --out part.safetensors --seed 5 $long 2> part.log &
pid=$!
for _ in $(seq 6000); do grep -qs "vae step" part.log && break; sleep 0.01; done
kill -INT $pid
wait $pid
status=$?
[ $status -eq 130 ] || fail "interrupted train exited $status, expected 130: $(tail -2 part.log)"
grep -q "interrupted in the \(vae\|denoiser\) phase" part.log || fail "no interrupt message: $(tail -3 part.log)"
grep -q -- "--resume part.safetensors.checkpoint.safetensors" part.log || fail "no resume hint: $(tail -3 part.log)"
[ ! -e part.safetensors ] || fail "an interrupted run wrote its model"
"$ldm" train --data data.csv --drop-column label --out part.safetensors --seed 5 $long \
  --resume part.safetensors.checkpoint.safetensors 2> resume.log || fail "resume exited $?: $(tail -2 resume.log)"
grep -q "resumed from part.safetensors.checkpoint.safetensors at \(vae\|denoiser\) step" resume.log \
  || fail "no resume line: $(head -3 resume.log)"
cmp -s whole.safetensors part.safetensors || fail "the resumed model differs from the uninterrupted one"
expect_error "other options" "$ldm" train --data data.csv --drop-column label --out part.safetensors --seed 5 \
  ${long/--vae-steps 4000/--vae-steps 4001} --resume part.safetensors.checkpoint.safetensors
# A second signal ends the process at once.
"$ldm" train --data data.csv --drop-column label --out twice.safetensors --seed 5 $long 2> twice.log &
pid=$!
for _ in $(seq 6000); do grep -qs "vae step" twice.log && break; sleep 0.01; done
kill -TERM $pid; kill -TERM $pid
wait $pid
status=$?
[ $status -eq 143 ] || fail "twice-signalled train exited $status, expected 143"
[ ! -e twice.safetensors ] || fail "a signalled run wrote its model"

if [ $failures -eq 0 ]; then echo "cli_test: all checks passed"; else echo "cli_test: $failures failed"; fi
[ $failures -eq 0 ]
