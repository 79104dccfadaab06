#!/usr/bin/env bash
# A GPT on the Brown corpus: train, report validation loss and bits per character, score the classical baseline
# on the same split, then sample. The corpus is installed into data/corpora/ on first use.
# Usage: examples/lm/run.sh [OUT_DIR] [extra train flags, e.g. --max-minutes 10]
set -euo pipefail
out=${1:-runs/brown}
shift || true
node "$(dirname "$0")/prepare-brown.js" data/brown
# Byte-level BPE (1,024 tokens of about 2.5 characters) shows the model 2.5 times more text per step than
# characters would, and 2.5 times longer contexts. No dropout: in 3,500 steps the model sees the text 6.5 times
# and its held-out loss still falls at the end. lr 2e-3, cosine decay to 2e-4. 2% of train.txt is held out for
# the evaluations during training (they pick best/); valid.txt is scored once, at the end.
npx transformer-native train --task lm --data data/brown/train.txt --out "$out" --tokenizer bpe --vocab-size 1024 \
  --block-size 128 --dropout 0 --lr 2e-3 --warmup-steps 200 --min-lr 2e-4 --max-steps 3500 --val-fraction 0.02 \
  --eval-every 500 "$@"
npx transformer-native eval --task lm --checkpoint "$out" --data data/brown/valid.txt
# The classical baseline on the same split, in bits per character.
node "$(dirname "$0")/baseline.js" data/brown
npx transformer-native generate --checkpoint "$out" --prompt "The jury said" --max-tokens 100 --temperature 0.8
