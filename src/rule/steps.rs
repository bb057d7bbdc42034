//! The rule's SQL steps, as the files in `sql/` hold them. Every front end reads this one list:
//! the detection runs the steps, the shell offers the materialized ones as tables and prints
//! them with `\rule`.

use datafusion::common::ParamValues;
use datafusion::prelude::{DataFrame, SessionContext};

use crate::error::{HuntError, QueryContext, Result};

/// One step: a SQL file of `sql/`, built into the binary.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// The step's name: the table a materialized step is registered as.
    pub name: &'static str,
    /// The file in `sql/`.
    pub file: &'static str,
    /// The file's text as built into the binary.
    pub sql: &'static str,
}

/// `sql/get_services.sql`: the service launches, materialized once.
pub const GET_SERVICES: Step = Step {
    name: "GetServices",
    file: "get_services.sql",
    sql: include_str!("../../sql/get_services.sql"),
};

/// `sql/rare_services.sql`: the rare (service, device) pairs, materialized once.
pub const RARE_SERVICES: Step = Step {
    name: "RareServices",
    file: "rare_services.sql",
    sql: include_str!("../../sql/rare_services.sql"),
};

/// `sql/detect.sql`: the keyed plan over the materialized steps.
pub const DETECTION: Step = Step {
    name: "detection",
    file: "detect.sql",
    sql: include_str!("../../sql/detect.sql"),
};

/// `sql/literal.sql`: the KQL's join structure with full multiplicity, the tests' oracle.
pub const LITERAL: Step = Step {
    name: "literal translation",
    file: "literal.sql",
    sql: include_str!("../../sql/literal.sql"),
};

/// The steps that are materialized (and that the shell offers as tables), in order.
pub const MATERIALIZED: [Step; 2] = [GET_SERVICES, RARE_SERVICES];

/// The keyed plan, in the order it runs.
pub const KEYED_PLAN: [Step; 3] = [GET_SERVICES, RARE_SERVICES, DETECTION];

impl Step {
    /// The step's SQL: the text built into the binary or, when `HUNTLAKE_SQL_DIR` is set, the
    /// file of the same name in that folder, so that a change to the rule can be tried
    /// without a rebuild.
    pub fn text(&self) -> Result<std::borrow::Cow<'static, str>> {
        match std::env::var_os("HUNTLAKE_SQL_DIR") {
            None => Ok(self.sql.into()),
            Some(dir) => {
                let path = std::path::Path::new(&dir).join(self.file);
                std::fs::read_to_string(&path)
                    .map(Into::into)
                    .map_err(|source| HuntError::Io {
                        context: format!("reading {} (HUNTLAKE_SQL_DIR)", path.display()),
                        source,
                    })
            }
        }
    }

    /// Plans the step with its parameters bound.
    pub async fn plan(&self, ctx: &SessionContext, bindings: ParamValues) -> Result<DataFrame> {
        let sql = self.text()?;
        ctx.sql(&sql)
            .await
            .and_then(super::planning::without_unused_columns)
            .and_then(|df| df.with_param_values(bindings))
            .context(format!("planning sql/{}", self.file))
    }
}
