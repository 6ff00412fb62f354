//! The files served: written once per run into a temporary directory on the
//! machine's disk and read once, so every server starts from a warm page
//! cache.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// 1 GiB: the throughput workload.
pub const BIG: &str = "big.bin";
/// 64 KiB: a medium request.
pub const MEDIUM: &str = "64k.bin";
/// 1 KiB: a small request.
pub const SMALL: &str = "1k.bin";
/// 4 GiB, sparse: the memory-flatness check.
pub const HUGE: &str = "huge.bin";

/// The served directory and its files.
pub struct Files {
    dir: tempfile::TempDir,
    /// The size of the throughput file.
    pub big_len: u64,
    /// The size of the memory-flatness file.
    pub huge_len: u64,
}

impl Files {
    /// Writes the files (`big_len` bytes for [`BIG`], `huge_len` for
    /// [`HUGE`]) under `/var/tmp` (a disk, not tmpfs, when the machine has
    /// one) and reads them into the page cache.
    pub fn create(big_len: u64, huge_len: u64) -> io::Result<Files> {
        let dir = tempfile::Builder::new()
            .prefix("wasm-sendfile-bench")
            .tempdir_in("/var/tmp")?;
        write_pattern(&dir.path().join(BIG), big_len)?;
        write_pattern(&dir.path().join(MEDIUM), 64 * 1024)?;
        write_pattern(&dir.path().join(SMALL), 1024)?;
        // A hole reads as zeros, through the page cache like any data.
        File::create(dir.path().join(HUGE))?.set_len(huge_len)?;
        for name in [BIG, MEDIUM, SMALL] {
            warm(&dir.path().join(name))?;
        }
        Ok(Files {
            dir,
            big_len,
            huge_len,
        })
    }

    /// The directory the servers serve.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The path of one of the files.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// `len` bytes of a repeating, not-all-zero pattern.
fn write_pattern(path: &Path, len: u64) -> io::Result<()> {
    let block: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    let mut f = io::BufWriter::new(File::create(path)?);
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.flush()
}

/// Reads `path` once, so its pages are cached.
fn warm(path: &Path) -> io::Result<()> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf)? > 0 {}
    Ok(())
}
