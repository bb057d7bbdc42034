//! One error type for the whole engine. Every variant names the thing that was wrong (a table,
//! a file, a column, a flag) so the message a user sees says what and where.

use std::path::PathBuf;

use datafusion::error::DataFusionError;

pub type Result<T, E = HuntError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum HuntError {
    /// A bad flag value or argument: exit code 2.
    #[error("{0}")]
    Usage(String),

    /// Something huntlake itself got wrong (a library call it does not support, a state that
    /// should not happen): never the user's command line.
    #[error("internal error: {0}")]
    Internal(String),

    #[error("lake {root}: {message}")]
    Lake { root: String, message: String },

    #[error("{table}: {message} (looked in {path})")]
    Table {
        table: String,
        path: String,
        message: String,
    },

    #[error("{table}: file {file}: {message}")]
    File {
        table: String,
        file: String,
        message: String,
    },

    #[error("{context}: {source}")]
    Query {
        context: String,
        #[source]
        source: DataFusionError,
    },

    #[error("cannot write {path}: {message}")]
    Output { path: PathBuf, message: String },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl HuntError {
    pub fn usage(message: impl Into<String>) -> Self {
        HuntError::Usage(message.into())
    }

    /// The process exit code for this error: 2 for usage errors, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            HuntError::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// Adds "what we were doing" to DataFusion errors.
pub trait QueryContext<T> {
    fn context(self, context: impl Into<String>) -> Result<T>;
}

impl<T> QueryContext<T> for std::result::Result<T, DataFusionError> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|source| HuntError::Query {
            context: context.into(),
            source,
        })
    }
}
