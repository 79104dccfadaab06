#!/usr/bin/env bash
# Spam or ham: an encoder-only classifier trained on SpamAssassin e-mails, then scored on held-out ones, next to
# the classical baseline (naive Bayes) on the same split. The corpus is installed into data/corpora/ on first use.
# Usage: examples/classify/run.sh [OUT_DIR] [extra train flags]
set -euo pipefail
out=${1:-runs/spam}
shift || true
node "$(dirname "$0")/prepare-spam.js" data/spam
# The classify defaults: word tokens, the first 256 of them, mean pooling; 10% of train.jsonl is held out to pick
# the best checkpoint (evaluated every 170 steps), and test.jsonl is scored once at the end.
npx transformer-native train --task classify --data data/spam/train.jsonl --out "$out" --epochs 5 --eval-every 170 "$@"
npx transformer-native eval --task classify --checkpoint "$out" --data data/spam/test.jsonl
node "$(dirname "$0")/baseline.js" data/spam
