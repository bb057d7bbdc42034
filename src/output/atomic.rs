//! Writing a file so that nobody sees half of it: the bytes go to a temporary file in the same
//! folder, which is renamed over the destination once complete. A failed write leaves the
//! destination as it was (absent, or the previous version) and no temporary file behind.

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::{HuntError, Result};

/// Writes `path` through `write`, atomically (see the module). The folder must exist. The file
/// gets the mode any new file gets (0666 less the umask: 0644 under the
/// usual umask 022), not the owner-only mode of a temporary file.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    prepare(path, write)?.persist()
}

/// A file written in full beside its destination, not yet in place: [`Pending::persist`]
/// renames it there; dropped, it is removed. A run that must record something else first (its
/// state) writes its output this way.
#[derive(Debug)]
pub struct Pending {
    temp: tempfile::NamedTempFile,
    path: std::path::PathBuf,
}

impl Pending {
    /// Puts the file in place.
    pub fn persist(self) -> Result<()> {
        let path = self.path;
        self.temp.persist(&path).map_err(|e| HuntError::Output {
            path: path.clone(),
            message: e.error.to_string(),
        })?;
        Ok(())
    }
}

/// Writes `path`'s content through `write` into a temporary file beside it (see [`Pending`]).
pub fn prepare(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<Pending> {
    let output_error = |message: String| HuntError::Output {
        path: path.to_path_buf(),
        message,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".huntlake-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let temp = builder
        .tempfile_in(dir)
        .map_err(|e| output_error(e.to_string()))?;
    {
        let mut writer = BufWriter::new(temp.as_file());
        write(&mut writer)?;
        writer.flush().map_err(|e| output_error(e.to_string()))?;
    }
    Ok(Pending {
        temp,
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_nothing_and_a_good_one_is_readable_by_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("out.txt");
        let missing = write_atomically(&path, |_| Ok(())).unwrap_err().to_string();
        assert!(missing.contains("sub/out.txt"), "{missing}");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let failed = write_atomically(&path, |out| {
            out.write_all(b"half").unwrap();
            Err(HuntError::usage("stopped"))
        });
        assert!(failed.is_err());
        assert!(!path.exists());
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            0
        );

        write_atomically(&path, |out| {
            out.write_all(b"whole")
                .map_err(|e| HuntError::usage(e.to_string()))
        })
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // A temporary file's owner-only mode must not survive: the file has the mode the
            // process's umask gives new files (read without changing it).
            let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            let umask = status
                .lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|m| u32::from_str_radix(m.trim(), 8).ok())
                .unwrap_or(0o022);
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o666 & !umask);
        }
    }
}
