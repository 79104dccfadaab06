#!/usr/bin/env bash
# A character-level GPT on the Brown corpus: train, report validation loss and perplexity, then sample.
# Usage: examples/lm/run.sh [OUT_DIR] [extra train flags, e.g. --max-minutes 10]
set -euo pipefail
out=${1:-runs/brown}
shift || true
node "$(dirname "$0")/prepare-brown.js" data/brown
npx transformer-native train --task lm --data data/brown/train.txt --out "$out" --block-size 128 --max-steps 3000 "$@"
npx transformer-native eval --task lm --checkpoint "$out" --data data/brown/valid.txt
# The classical baseline on the same split, in bits per character (the eval loss above is in nats per character).
node "$(dirname "$0")/baseline.js" data/brown
npx transformer-native generate --checkpoint "$out" --prompt "The jury said" --max-tokens 100 --temperature 0.8
