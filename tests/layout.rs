//! The source tree's shape, checked: the rooms of `src/` depend on each other in one direction
//! (the order of the pipeline, the command line last), and only the command line uses the
//! command-line crates, so that the engine can be used as a library without them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The rooms of `src/`, each allowed to use only the rooms before it.
const ROOMS: [&str; 10] = [
    "error",
    "time",
    "functions",
    "lake",
    "plan",
    "rule",
    "output",
    "ingest",
    "synth",
    "cli",
];

/// Crates for the command line only.
const CLI_CRATES: [&str; 4] = ["clap", "indicatif", "rustyline", "comfy_table"];

fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).unwrap() {
        files.extend(rust_files(&entry.unwrap().path()));
    }
    files.retain(|f| f.extension().is_some_and(|e| e == "rs"));
    files
}

/// The source of room `name`: `src/<name>.rs` or `src/<name>/`.
fn room_sources(name: &str) -> Vec<(PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let path = if src.join(format!("{name}.rs")).is_file() {
        src.join(format!("{name}.rs"))
    } else {
        src.join(name)
    };
    assert!(
        path.exists(),
        "room {name} is missing at {}",
        path.display()
    );
    rust_files(&path)
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            (f, text)
        })
        .collect()
}

/// The rooms `text` refers to through `crate::<room>`.
fn rooms_used(text: &str) -> BTreeSet<&'static str> {
    ROOMS
        .iter()
        .copied()
        .filter(|room| {
            text.match_indices(&format!("crate::{room}")).any(|(i, m)| {
                !text[i + m.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
            })
        })
        .collect()
}

#[test]
fn rooms_depend_on_earlier_rooms_only() {
    for (position, room) in ROOMS.iter().enumerate() {
        for (file, text) in room_sources(room) {
            for used in rooms_used(&text) {
                let used_at = ROOMS.iter().position(|r| *r == used).unwrap();
                assert!(
                    used_at <= position,
                    "{} ({room}) uses crate::{used}, a later room: the rooms go {}",
                    file.display(),
                    ROOMS.join(" → ")
                );
            }
        }
    }
}

#[test]
fn only_the_command_line_uses_the_command_line_crates() {
    for room in ROOMS.iter().filter(|r| **r != "cli") {
        for (file, text) in room_sources(room) {
            for krate in CLI_CRATES {
                assert!(
                    !text.contains(&format!("{krate}::")),
                    "{} ({room}) uses {krate}, which only src/cli may use",
                    file.display()
                );
            }
        }
    }
    // Every room of src/ is listed above: a new one must take its place in the order.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(&src).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        let room = name.trim_end_matches(".rs");
        assert!(
            ROOMS.contains(&room) || ["lib", "main"].contains(&room),
            "src/{name} is not one of the rooms {ROOMS:?}"
        );
    }
}
