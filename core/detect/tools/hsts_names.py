"""Writes the host names of Chromium's HSTS preload list, as packaged by
PyPI `hstspreload` (the trainer pins 2025.1.1 and checks the output's sha256),
one per line, sorted, to standard output.

The package keeps the list in a lookup structure (per-layer jump tables into
a binary blob of `flags, length, label` entries); every leaf entry holds a
whole host name, so walking every jump-table slot lists them all.
"""

import sys

import hstspreload as h


def main() -> None:
    names = set()
    with h.open_pkg_binary("hstspreload.bin") as f:
        blob = f.read()
    for layer in h._JUMPTABLE:
        for slot in layer:
            if slot is None:
                continue
            start, size = slot
            for is_leaf, _, label in h._iter_entries(blob[start : start + size]):
                if is_leaf:
                    names.add(label.decode("ascii", "replace"))
    sys.stdout.write("".join(n + "\n" for n in sorted(names)))


if __name__ == "__main__":
    main()
