//! The crate's only `unsafe`: mapping a compiled index read-only.
#![allow(unsafe_code)]

use std::fs::File;

/// Maps `file` read-only.
pub(crate) fn map_read_only(file: &File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: `Mmap::map` is unsafe because the mapped bytes change (or the mapping faults)
    // if another process modifies or truncates the file while it is mapped. Index files are
    // never modified in place: `IndexBuilder::write_to` writes a new temporary file in the same
    // directory and atomically renames it over the old one, so an open mapping keeps the old
    // inode's unchanged contents. Every read of the mapping is bounds-checked and no reference
    // into it outlives the `Index` that owns the `Mmap`.
    let map = unsafe { memmap2::Mmap::map(file) }?;
    // Lookups hit random pages: without this hint the kernel maps 64 KiB around every fault
    // and reads ahead, multiplying resident memory for no benefit. Best effort only.
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Random);
    Ok(map)
}
