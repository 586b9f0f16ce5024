#!/usr/bin/env bash
# Trains one model per family with that family left out of training, into
# OUT/<family>/dga.bin, for `nightjar eval dga --leave-family-out OUT`.
# Families: the arguments, or every family the trainer generates. The
# wordlist families are left out of every model already (the trainer's
# default hold-out), so theirs are the default model's rows.
#   OUT=/tmp/lofo core/detect/tools/leave_family_out.sh tinba conficker
# About 1.5 minutes per family on 2 cores once the scratch inputs exist
# (SCRATCH=DIR keeps them between runs).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${OUT:?set OUT to the directory for the per-family models}"
export SCRATCH="${SCRATCH:-$(mktemp -d)}"
# Build the trainer once, not once per family.
if [ -z "${TRAINER:-}" ]; then
  (cd "$here" && cargo build -q --release -p nightjar-detect --features train --bin train_dga)
  export TRAINER="${CARGO_TARGET_DIR:-$here/../../target}/release/train_dga"
fi
wordlist="matsnu,suppobox,gozi,banjori"
families=("$@")
if [ ${#families[@]} -eq 0 ]; then
  families=($(sed -n 's/^ *name: "\([a-z_]*\)",$/\1/p' "$here/src/dga_families.rs"))
fi
for f in "${families[@]}"; do
  case ",$wordlist," in
    *",$f,"*) hold="$wordlist" ;;
    *) hold="$wordlist,$f" ;;
  esac
  OUT="$out/$f" "$here/tools/train_dga.sh" --hold-out "$hold" > "$out.$f.log" 2>&1 \
    || { echo "leave_family_out: $f failed, see $out.$f.log" >&2; exit 1; }
  echo "$f: $(grep -m1 "calibration FP" "$out.$f.log")"
done
