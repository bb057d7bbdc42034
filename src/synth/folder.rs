//! The folder a synthetic lake is written to, and the promise that goes with it: huntlake
//! deletes only files it wrote itself.
//!
//! Every lake `generate` writes carries a manifest (`manifest.json`) that lists its files. The
//! manifest is written first, naming the files about to be written, and again at the end with
//! the summary, so even a run that stopped half way left a list of what is its own. A rerun
//! into the same folder deletes exactly the files the previous manifest lists (which may be
//! more than the new run writes: fewer days, another start), and nothing else. A folder that
//! holds other files is refused unless `--force` is given, and even then no file that is not
//! listed is overwritten.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{HuntError, Result};
use crate::lake::{DefenderTable, LAKE_INFO_FILE};
use crate::output::atomic::write_atomically;

/// The manifest written beside the tables.
pub const MANIFEST_FILE: &str = "manifest.json";

/// What the manifest's `written_by` says, so that a manifest is known to be huntlake's.
const WRITTEN_BY: &str = "huntlake generate";

/// An output folder, checked.
#[derive(Debug)]
pub(crate) struct OutputFolder {
    root: PathBuf,
    /// The files (relative paths) the previous manifest lists: huntlake's to replace.
    previous: BTreeSet<PathBuf>,
}

impl OutputFolder {
    /// Checks `root` before anything is written: new, empty, a lake huntlake wrote, or (with
    /// `force`) a folder holding other files.
    pub fn open(root: &Path, force: bool) -> Result<OutputFolder> {
        let folder = |previous| OutputFolder {
            root: root.to_path_buf(),
            previous,
        };
        if !root.exists() {
            return Ok(folder(BTreeSet::new()));
        }
        if !root.is_dir() {
            return Err(HuntError::usage(format!(
                "--out {}: exists and is not a folder",
                root.display()
            )));
        }
        if let Some(previous) = previous_files(root)? {
            return Ok(folder(previous));
        }
        let empty = std::fs::read_dir(root)
            .map_err(|source| HuntError::Io {
                context: format!("reading {}", root.display()),
                source,
            })?
            .next()
            .is_none();
        if empty || force {
            return Ok(folder(BTreeSet::new()));
        }
        Err(HuntError::usage(format!(
            "--out {}: the folder is not empty and holds no lake huntlake generate wrote (no {} \
             of its own); choose a new or empty folder, or pass --force to write into it (nothing \
             in it is deleted)",
            root.display(),
            MANIFEST_FILE
        )))
    }

    /// Before writing `planned` (relative paths): refuses to overwrite a file that is not
    /// huntlake's, deletes the previous run's files, and writes a manifest naming the files
    /// about to be written.
    pub fn begin(&self, planned: &[PathBuf]) -> Result<()> {
        std::fs::create_dir_all(&self.root).map_err(|source| HuntError::Io {
            context: format!("creating {}", self.root.display()),
            source,
        })?;
        for file in planned {
            let path = self.root.join(file);
            if path.exists() && !self.previous.contains(file) {
                return Err(HuntError::usage(format!(
                    "--out {}: {} is already there and was not written by huntlake generate; \
                     nothing was written",
                    self.root.display(),
                    file.display()
                )));
            }
        }
        for file in &self.previous {
            let path = self.root.join(file);
            match std::fs::remove_file(&path) {
                Ok(()) => remove_empty_parents(&self.root, &path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(HuntError::Io {
                        context: format!("replacing {}", path.display()),
                        source,
                    });
                }
            }
        }
        self.write_manifest(planned, serde_json::json!({"complete": false}))
    }

    /// After writing: the manifest, with the files and `summary`'s fields.
    pub fn finish(&self, written: &[PathBuf], summary: Value) -> Result<()> {
        self.write_manifest(written, summary)
    }

    fn write_manifest(&self, files: &[PathBuf], fields: Value) -> Result<()> {
        let mut listed: BTreeSet<String> = files
            .iter()
            .map(|f| f.to_string_lossy().replace('\\', "/"))
            .collect();
        listed.insert(MANIFEST_FILE.into());
        listed.insert(LAKE_INFO_FILE.into());
        let mut manifest = serde_json::json!({ "written_by": WRITTEN_BY });
        if let (Some(manifest), Value::Object(fields)) = (manifest.as_object_mut(), fields) {
            manifest.extend(fields);
            manifest.insert("files".into(), listed.into_iter().collect());
        }
        write_json(&self.root.join(MANIFEST_FILE), &manifest)
    }
}

/// The files a manifest in `root` lists, if it is huntlake's. A manifest from before manifests
/// listed their files names its days: its files are the table-day files of those days.
fn previous_files(root: &Path) -> Result<Option<BTreeSet<PathBuf>>> {
    let path = root.join(MANIFEST_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let Ok(manifest) = serde_json::from_str::<Value>(&text) else {
        return Ok(None);
    };
    if let Some(files) = manifest.get("files").and_then(Value::as_array)
        && manifest.get("written_by").and_then(Value::as_str) == Some(WRITTEN_BY)
    {
        let mut listed = BTreeSet::new();
        for file in files {
            let relative = file.as_str().map(PathBuf::from).filter(|p| {
                p.components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)))
            });
            match relative {
                Some(relative) => listed.insert(relative),
                None => {
                    return Err(HuntError::Lake {
                        root: root.display().to_string(),
                        message: format!(
                            "{MANIFEST_FILE} lists {file}, which is not a path inside the lake; \
                             remove the manifest or choose another folder"
                        ),
                    });
                }
            };
        }
        return Ok(Some(listed));
    }
    // The earlier manifest: seed, devices, days, start, end, rows, planted.
    let start = manifest
        .get("start")
        .and_then(Value::as_str)
        .and_then(|s| crate::time::parse_datetime(s).ok());
    let days = manifest.get("days").and_then(Value::as_u64);
    match (start, days, manifest.get("planted")) {
        (Some(start), Some(days), Some(_)) => {
            let mut listed: BTreeSet<PathBuf> =
                table_day_files(start, days as u32).into_iter().collect();
            listed.insert(MANIFEST_FILE.into());
            listed.insert(LAKE_INFO_FILE.into());
            Ok(Some(listed))
        }
        _ => Ok(None),
    }
}

/// `<Table>/date=<day>/part-00000.parquet` for each table and each of `days` days from `start`.
pub(crate) fn table_day_files(start: i64, days: u32) -> Vec<PathBuf> {
    DefenderTable::ALL
        .iter()
        .flat_map(|table| {
            (0..days).map(move |day| table_day_file(*table, start + day as i64 * crate::time::DAY))
        })
        .collect()
}

/// Where one table-day's file goes.
pub(crate) fn table_day_file(table: DefenderTable, day_start: i64) -> PathBuf {
    let date = chrono::DateTime::from_timestamp_nanos(day_start).format("%Y-%m-%d");
    Path::new(table.name())
        .join(format!("date={date}"))
        .join("part-00000.parquet")
}

/// Removes the folders between `path` and `root` that deleting `path` left empty.
fn remove_empty_parents(root: &Path, path: &Path) {
    let mut folder = path.parent();
    while let Some(dir) = folder {
        if dir == root || !dir.starts_with(root) || std::fs::remove_dir(dir).is_err() {
            break;
        }
        folder = dir.parent();
    }
}

/// `value` as pretty JSON in `path`, written atomically.
pub(crate) fn write_json(path: &Path, value: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("JSON values serialize") + "\n";
    write_atomically(path, |out| {
        out.write_all(text.as_bytes())
            .map_err(|source| HuntError::Io {
                context: format!("writing {}", path.display()),
                source,
            })
    })
}
