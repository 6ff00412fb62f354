//! Files opened through the guest's preopened directories, with a cursor.
//!
//! WASI 0.2 descriptors have no position; [`File`] keeps one, which
//! [`Read`], [`Write`], [`Seek`] and cursor-mode
//! [`sendfile`](crate::sendfile()) use and advance (Linux's "offset NULL"
//! semantics).

use crate::error;
use std::cell::OnceCell;
use std::io::{self, Read, Seek, SeekFrom, Write};
use wasi::filesystem::preopens;
use wasi::filesystem::types::{
    Descriptor, DescriptorFlags, DescriptorStat, DescriptorType, MetadataHashValue, OpenFlags,
    PathFlags,
};

thread_local! {
    static PREOPENS: OnceCell<Vec<(Descriptor, String)>> = const { OnceCell::new() };
}

/// `path` without leading `/` and `./`, and without a trailing `/`.
fn normalize(path: &str) -> &str {
    let mut p = path;
    loop {
        if let Some(rest) = p.strip_prefix('/') {
            p = rest;
        } else if let Some(rest) = p.strip_prefix("./") {
            p = rest;
        } else {
            break;
        }
    }
    if p == "." {
        ""
    } else {
        p.trim_end_matches('/')
    }
}

/// Runs `f` with the preopen whose name is the longest prefix of `path`
/// (component-wise) and the rest of the path, relative to it.
fn with_preopen<T>(
    path: &str,
    f: impl FnOnce(&Descriptor, &str) -> io::Result<T>,
) -> io::Result<T> {
    PREOPENS.with(|cell| {
        let preopens = cell.get_or_init(preopens::get_directories);
        let wanted = normalize(path);
        let best = preopens
            .iter()
            .filter_map(|(dir, name)| {
                let name = normalize(name);
                let rest = if name.is_empty() {
                    Some(wanted)
                } else if wanted == name {
                    Some("")
                } else {
                    wanted.strip_prefix(name).and_then(|r| r.strip_prefix('/'))
                };
                rest.map(|rest| (name.len(), dir, rest))
            })
            .max_by_key(|(len, _, _)| *len);
        match best {
            Some((_, dir, rest)) => f(dir, if rest.is_empty() { "." } else { rest }),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("`{path}` is not inside any preopened directory"),
            )),
        }
    })
}

/// The metadata of `path` (following symlinks), resolved against the
/// preopened directories, without opening it: `stat-at`. Servers check the
/// type this way first, since opening a FIFO for reading blocks until a
/// writer comes.
pub fn metadata(path: &str) -> io::Result<DescriptorStat> {
    with_preopen(path, |dir, rest| {
        dir.stat_at(PathFlags::SYMLINK_FOLLOW, rest)
            .map_err(error::fs)
    })
}

/// Which file `path` names now (following symlinks), without opening it:
/// WASI's `metadata-hash-at`, equal for two names of one file and different
/// for different files (the device and inode on Unix hosts). Compare it
/// with [`File::identity`] to learn whether the name still leads to an
/// open file, or was replaced (a file renamed over it) or removed.
pub fn identity(path: &str) -> io::Result<MetadataHashValue> {
    with_preopen(path, |dir, rest| {
        dir.metadata_hash_at(PathFlags::SYMLINK_FOLLOW, rest)
            .map_err(error::fs)
    })
}

/// How to open a [`File`], like `std::fs::OpenOptions`.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    create: bool,
    create_new: bool,
    truncate: bool,
    append: bool,
}

impl OpenOptions {
    /// No access at all; add some with the other methods.
    pub fn new() -> Self {
        Self::default()
    }
    /// Open for reading.
    pub fn read(&mut self, on: bool) -> &mut Self {
        self.read = on;
        self
    }
    /// Open for writing.
    pub fn write(&mut self, on: bool) -> &mut Self {
        self.write = on;
        self
    }
    /// Create the file if it does not exist.
    pub fn create(&mut self, on: bool) -> &mut Self {
        self.create = on;
        self
    }
    /// Truncate the file to 0 bytes.
    pub fn truncate(&mut self, on: bool) -> &mut Self {
        self.truncate = on;
        self
    }
    /// Create the file, failing (`AlreadyExists`) if it exists.
    pub fn create_new(&mut self, on: bool) -> &mut Self {
        self.create_new = on;
        self
    }
    /// Write at the end of the file: every [`Write`] call goes after what
    /// the file holds then (implies `write`). WASI 0.2 descriptors have no
    /// append mode, so the SDK looks the size up before each write: writers
    /// in other processes can interleave, as without `O_APPEND`.
    pub fn append(&mut self, on: bool) -> &mut Self {
        self.append = on;
        self
    }

    /// Opens `path`, resolved against the preopened directories.
    pub fn open(&self, path: &str) -> io::Result<File> {
        let mut open = OpenFlags::empty();
        if self.create || self.create_new {
            open |= OpenFlags::CREATE;
        }
        if self.create_new {
            open |= OpenFlags::EXCLUSIVE;
        }
        if self.truncate {
            open |= OpenFlags::TRUNCATE;
        }
        let mut flags = DescriptorFlags::empty();
        if self.read {
            flags |= DescriptorFlags::READ;
        }
        if self.write || self.append {
            flags |= DescriptorFlags::WRITE;
        }
        let append = self.append;
        with_preopen(path, |dir, rest| {
            dir.open_at(PathFlags::SYMLINK_FOLLOW, rest, open, flags)
                .map(|d| File {
                    append,
                    ..File::from_descriptor(d)
                })
                .map_err(error::fs)
        })
    }
}

/// An open file (or directory) with its own cursor.
#[derive(Debug)]
pub struct File {
    descriptor: Descriptor,
    cursor: u64,
    /// Writes go at the end (see [`OpenOptions::append`]).
    append: bool,
}

impl File {
    /// Opens `path` for reading.
    pub fn open(path: &str) -> io::Result<File> {
        OpenOptions::new().read(true).open(path)
    }

    /// Creates (or truncates) `path` and opens it for writing.
    pub fn create(path: &str) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
    }

    /// Options for other ways of opening.
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Wraps a descriptor obtained elsewhere; the cursor starts at 0.
    pub fn from_descriptor(descriptor: Descriptor) -> File {
        File {
            descriptor,
            cursor: 0,
            append: false,
        }
    }

    /// The underlying `wasi:filesystem` descriptor.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// The cursor: where the next read, write or cursor-mode sendfile starts.
    pub fn position(&self) -> u64 {
        self.cursor
    }

    /// Moves the cursor to `pos` (like `SeekFrom::Start`).
    pub fn set_position(&mut self, pos: u64) {
        self.cursor = pos;
    }

    /// The file's size in bytes.
    pub fn len(&self) -> io::Result<u64> {
        Ok(self.descriptor.stat().map_err(error::fs)?.size)
    }

    /// The file's metadata (`stat`): type, size, times.
    pub fn metadata(&self) -> io::Result<DescriptorStat> {
        self.descriptor.stat().map_err(error::fs)
    }

    /// Truncates or extends the file to `size` bytes (zeros when it
    /// grows), like `std::fs::File::set_len`; the cursor stays.
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        self.descriptor.set_size(size).map_err(error::fs)
    }

    /// Flushes the file's data and metadata to storage (`fsync`).
    pub fn sync_all(&self) -> io::Result<()> {
        self.descriptor.sync().map_err(error::fs)
    }

    /// Which file this is: WASI's `metadata-hash` (see [`identity`]).
    pub fn identity(&self) -> io::Result<MetadataHashValue> {
        self.descriptor.metadata_hash().map_err(error::fs)
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> io::Result<bool> {
        Ok(self.descriptor.get_type().map_err(error::fs)? == DescriptorType::Directory)
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (data, _eof) = self
            .descriptor
            .read(buf.len() as u64, self.cursor)
            .map_err(error::fs)?;
        buf[..data.len()].copy_from_slice(&data);
        self.cursor += data.len() as u64;
        Ok(data.len())
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.append {
            self.cursor = self.len()?;
        }
        let n = self.descriptor.write(buf, self.cursor).map_err(error::fs)?;
        self.cursor += n;
        Ok(n as usize)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let base = match pos {
            SeekFrom::Start(p) => {
                self.cursor = p;
                return Ok(p);
            }
            SeekFrom::Current(d) => (self.cursor, d),
            SeekFrom::End(d) => (self.len()?, d),
        };
        match base.0.checked_add_signed(base.1) {
            Some(p) => {
                self.cursor = p;
                Ok(p)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek to a negative or overflowing position",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize("/a/b/"), "a/b");
        assert_eq!(normalize("./a"), "a");
        assert_eq!(normalize("."), "");
        assert_eq!(normalize("/"), "");
        assert_eq!(normalize("../x"), "../x");
    }
}
