//! Writing a file so that it is either complete or absent under its name:
//! into a temporary file next to it, flushed and synced, then renamed over
//! the final name. A write that fails (a full disk) removes the temporary
//! file and leaves whatever was there before untouched, so a truncated
//! report.html can never look complete.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Writes `path` with `write`, atomically (see the module comment).
pub fn write_file(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let tmp = temp_name(path);
    let result = (|| {
        let file = File::create(&tmp).context("creating a temporary file")?;
        let mut out = BufWriter::with_capacity(256 * 1024, file);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        // Some filesystems report a full disk only when the data goes out.
        file.sync_all()?;
        std::fs::rename(&tmp, path).context("renaming the temporary file")?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `.NAME.tmp` in the same directory (a rename only stays atomic within one
/// filesystem), hidden from a plain `ls`.
pub fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.tmp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_nothing_under_the_final_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        let err = write_file(&path, |out| {
            out.write_all(&[b'x'; 300 * 1024])?; // past the buffer: on disk
            anyhow::bail!("No space left on device")
        })
        .unwrap_err();
        assert!(err.to_string().contains("No space left"));
        assert!(!path.exists(), "a partial report is visible");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the temporary file was left"
        );
    }

    #[test]
    fn a_failed_rewrite_keeps_the_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        write_file(&path, |out| Ok(out.write_all(b"complete")?)).unwrap();
        let _ = write_file(&path, |out| {
            out.write_all(b"trunc")?;
            anyhow::bail!("disk full")
        });
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "complete");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
