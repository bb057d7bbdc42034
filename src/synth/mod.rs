//! Synthetic Defender lakes: the sample lake built into huntlake (a small company's three
//! weeks, with planted stories, `data/sample-lake/`) and `generate`'s large lakes for
//! benchmarks. Both are deterministic: the same arguments write the same bytes.

mod folder;
mod generate;
mod rng;
mod sample;

pub use folder::MANIFEST_FILE;
pub use generate::{GenerateOptions, GenerateSummary, PlantedInstance, Rates, generate};
pub use rng::SplitMix64;
pub use sample::{SampleSummary, write_sample_lake};
