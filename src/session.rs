//! The DataFusion session every front end uses: huntlake's functions registered, identifiers
//! kept as typed (so `DeviceProcessEvents` and `DeviceName` work unquoted), and Parquet read
//! the way Defender exports need.

use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{QueryContext, Result};
use crate::functions;

#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Worker threads for query execution (default: the number of cores).
    pub target_partitions: Option<usize>,
}

pub fn new_session(options: &SessionOptions) -> Result<SessionContext> {
    // DataFusion's own DATAFUSION_* environment variables still win over these defaults, so a
    // setting can be tried without a rebuild.
    let mut config = SessionConfig::from_env().context("reading DATAFUSION_* variables")?;
    for (key, value) in [
        ("datafusion.sql_parser.enable_ident_normalization", false),
        // Some writers store strings as plain BYTE_ARRAY without the UTF8 annotation.
        ("datafusion.execution.parquet.binary_as_string", true),
        ("datafusion.execution.parquet.pushdown_filters", true),
        ("datafusion.execution.parquet.reorder_filters", true),
    ] {
        let variable = key.to_ascii_uppercase().replace('.', "_");
        if std::env::var_os(variable).is_none() {
            config = config.set_bool(key, value);
        }
    }
    if let Some(n) = options.target_partitions {
        config = config.with_target_partitions(n.max(1));
    }
    let runtime = RuntimeEnvBuilder::new()
        .build_arc()
        .context("creating the runtime")?;
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    functions::register_all(&ctx);
    Ok(ctx)
}
