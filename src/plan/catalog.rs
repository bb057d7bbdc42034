//! Table names as people type them. huntlake keeps identifiers as written (so
//! `DeviceProcessEvents` works unquoted, as in Kusto), and this schema also finds a table
//! written in another case (`deviceprocessevents`, `DEVICEPROCESSEVENTS`) when exactly one
//! table matches it ignoring ASCII case.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::common::Result;
use datafusion::prelude::SessionContext;

/// A [`MemorySchemaProvider`] whose lookups fall back to ASCII-case-insensitive matching.
#[derive(Debug, Default)]
pub struct CaseInsensitiveSchema {
    tables: MemorySchemaProvider,
}

impl CaseInsensitiveSchema {
    pub fn new() -> Self {
        Self::default()
    }

    /// The registered name `name` stands for: itself if registered, else the one table whose
    /// name equals it ignoring ASCII case.
    fn resolve(&self, name: &str) -> Option<String> {
        if self.tables.table_exist(name) {
            return Some(name.to_string());
        }
        let mut matches = self
            .tables
            .table_names()
            .into_iter()
            .filter(|t| t.eq_ignore_ascii_case(name));
        let first = matches.next()?;
        // Two tables differing only in case: the user has to say which.
        matches.next().is_none().then_some(first)
    }
}

#[async_trait]
impl SchemaProvider for CaseInsensitiveSchema {
    fn table_names(&self) -> Vec<String> {
        self.tables.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        match self.resolve(name) {
            Some(found) => self.tables.table(&found).await,
            None => Ok(None),
        }
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        self.tables.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.tables.deregister_table(name)
    }

    /// Exact: `CREATE TABLE devicename ...` beside `DeviceName` is a different table.
    fn table_exist(&self, name: &str) -> bool {
        self.tables.table_exist(name)
    }
}

/// Makes the default schema and `raw` resolve table names ignoring case (see the module).
/// Call it on a new session, before any table is registered.
pub fn install(ctx: &SessionContext) {
    let Some(catalog) = ctx.catalog("datafusion") else {
        return;
    };
    for schema in ["public", crate::lake::RAW_SCHEMA] {
        let _ = catalog.register_schema(schema, Arc::new(CaseInsensitiveSchema::new()));
    }
}
