//! Helpers shared by the golden-data tests (`replay.rs`, `sparse_rows.rs`, `lbfgs.rs`).

use std::path::{Path, PathBuf};

/// The `.json` files of `dir` (relative to the crate root), sorted by name.
pub fn golden_files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}
