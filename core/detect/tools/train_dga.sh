#!/usr/bin/env bash
# Reproduces model/dga.bin and model/dga.json. Fetches the benign training data
# from package registries into a scratch directory (never into the repo); the
# trainer verifies each file's sha256 before using it. Positives are generated
# by the trainer itself (src/dga_families.rs). Extra arguments go to
# the trainer, e.g. `OUT=/some/dir tools/train_dga.sh --hold-out matsnu,pushdo`
# trains a leave-family-out model to check with `nightjar eval dga --model`.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
scratch="${SCRATCH:-$(mktemp -d)}"
cd "$scratch"
npm pack an-array-of-english-words@2.0.0 email-providers@2.26.0 @ghostery/trackerdb@1.0.945 >/dev/null
for f in an-array-of-english-words-2.0.0.tgz email-providers-2.26.0.tgz ghostery-trackerdb-1.0.945.tgz; do
  mkdir -p "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"
done
# The Public Suffix List as shipped by the psl crate the library links against.
(cd "$here" && cargo fetch >/dev/null)
psl_rules="$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -path '*psl-2.1.247/data/rules.txt' | head -n1)"
cd "$here"
cargo run --release -p nightjar-detect --features train --bin train_dga -- \
  --words "$scratch/an-array-of-english-words-2.0.0/package/index.json" \
  --email "$scratch/email-providers-2.26.0/package/all.json" \
  --trackerdb "$scratch/ghostery-trackerdb-1.0.945/package/dist/trackerdb.json" \
  --psl "$psl_rules" \
  --out "${OUT:-$here/model}" \
  --date "${TRAIN_DATE:-$(date -u +%Y-%m-%d)}" "$@"
