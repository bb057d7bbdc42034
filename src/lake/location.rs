//! Where a lake lives: a local folder, or a prefix in an object store (Azure Blob / ADLS Gen2,
//! S3, GCS), opened through object_store with each cloud's standard credentials from the
//! environment (`AZURE_STORAGE_*`, `AWS_*`, `GOOGLE_*`, as object_store's builders read them).
//! Nothing here prints a credential: messages name the URL the user gave, which holds none.
//!
//! The sample lake (`data/sample-lake/`) is built into the binary and opened from memory, so
//! that an installed `huntlake` runs its demo wherever it is, without the source folder.

use std::fmt;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion::datasource::listing::ListingTableUrl;
use datafusion::prelude::SessionContext;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};
use url::Url;

use crate::error::{HuntError, QueryContext, Result};

/// The sample lake's files, as committed in `data/sample-lake/`.
static SAMPLE_LAKE: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/data/sample-lake");

/// Where a lake is: a folder or object-store URL, or the sample lake built into huntlake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeSource {
    /// A local path, or a `file://`, `az://`, `abfs[s]://`, `s3://` or `gs://` URL.
    Root(String),
    /// The sample lake built into the binary (the files of `data/sample-lake/`).
    EmbeddedSample,
}

impl fmt::Display for LakeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LakeSource::Root(root) => f.write_str(root),
            LakeSource::EmbeddedSample => f.write_str("the embedded sample lake"),
        }
    }
}

impl From<&str> for LakeSource {
    fn from(root: &str) -> Self {
        LakeSource::Root(root.to_string())
    }
}

impl From<String> for LakeSource {
    fn from(root: String) -> Self {
        LakeSource::Root(root)
    }
}

impl From<&FsPath> for LakeSource {
    fn from(root: &FsPath) -> Self {
        LakeSource::Root(root.to_string_lossy().into_owned())
    }
}

impl From<PathBuf> for LakeSource {
    fn from(root: PathBuf) -> Self {
        LakeSource::from(root.as_path())
    }
}

impl From<&PathBuf> for LakeSource {
    fn from(root: &PathBuf) -> Self {
        LakeSource::from(root.as_path())
    }
}

/// Where the sample lake's in-memory store is registered.
pub const SAMPLE_STORE_URL: &str = "memory://huntlake-sample/";

/// The sample lake's files in an in-memory object store.
pub async fn embedded_sample_store() -> Result<Arc<dyn ObjectStore>> {
    let store = InMemory::new();
    let mut folders = vec![&SAMPLE_LAKE];
    while let Some(folder) = folders.pop() {
        folders.extend(folder.dirs());
        for file in folder.files() {
            let location = Path::from(file.path().to_string_lossy().as_ref());
            store
                .put(&location, bytes::Bytes::from_static(file.contents()).into())
                .await
                .map_err(|e| HuntError::Lake {
                    root: LakeSource::EmbeddedSample.to_string(),
                    message: e.to_string(),
                })?;
        }
    }
    Ok(Arc::new(store))
}

/// The object store behind a cloud URL (`az://`, `abfs[s]://`, `s3://`, `gs://`), with the
/// credentials each cloud's builder reads from the environment. The error says what failed,
/// for a message about the URL.
pub fn cloud_store(url: &Url) -> std::result::Result<Arc<dyn ObjectStore>, String> {
    let text = url.as_str();
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "az" | "azure" | "abfs" | "abfss" | "adl" => Arc::new(
            MicrosoftAzureBuilder::from_env()
                .with_url(text)
                .with_client_options(client_options())
                .with_retry(retry_config())
                .build()
                .map_err(|e| format!("cannot open Azure storage: {e}"))?,
        ),
        "s3" | "s3a" => Arc::new(
            AmazonS3Builder::from_env()
                .with_url(text)
                .with_client_options(client_options())
                .with_retry(retry_config())
                .build()
                .map_err(|e| format!("cannot open S3: {e}"))?,
        ),
        "gs" => Arc::new(
            GoogleCloudStorageBuilder::from_env()
                .with_url(text)
                .with_client_options(client_options())
                .with_retry(retry_config())
                .build()
                .map_err(|e| format!("cannot open Google Cloud Storage: {e}"))?,
        ),
        other => {
            return Err(format!(
                "unsupported URL scheme {other}://; expected a path, file://, az://, abfss://, \
                 s3:// or gs://"
            ));
        }
    };
    Ok(store)
}

/// A lake root, opened.
#[derive(Debug, Clone)]
pub struct LakeLocation {
    pub store: Arc<dyn ObjectStore>,
    /// The store's URL in DataFusion's registry (`scheme://authority/`).
    store_url: Url,
    /// The lake's root inside the store.
    pub prefix: Path,
    /// The root as the user wrote it, for messages.
    pub display: String,
    /// The folder, when the lake is on local disk.
    pub local_root: Option<PathBuf>,
}

impl LakeLocation {
    /// Opens `source`.
    pub async fn open(source: &LakeSource) -> Result<LakeLocation> {
        match source {
            LakeSource::Root(root) => Self::parse(root),
            LakeSource::EmbeddedSample => Self::embedded_sample().await,
        }
    }

    /// The sample lake, from the bytes built into the binary, in an in-memory store.
    async fn embedded_sample() -> Result<LakeLocation> {
        Ok(LakeLocation {
            store: embedded_sample_store().await?,
            store_url: Url::parse(SAMPLE_STORE_URL).expect("a valid URL"),
            prefix: Path::default(),
            display: LakeSource::EmbeddedSample.to_string(),
            local_root: None,
        })
    }

    /// Opens `root`: a path, or a `file://`, `az://`, `abfs[s]://`, `s3://` or `gs://` URL.
    pub fn parse(root: &str) -> Result<LakeLocation> {
        let bad = |message: String| HuntError::Lake {
            root: root.to_string(),
            message,
        };
        let url = match root.split_once("://") {
            Some((scheme, _)) if scheme.len() > 1 => {
                Url::parse(root).map_err(|e| bad(format!("not a valid URL: {e}")))?
            }
            // No scheme (or a Windows drive letter): a local path.
            _ => return Self::local(root, PathBuf::from(root)),
        };
        if url.scheme() == "file" {
            let path = url
                .to_file_path()
                .map_err(|()| bad("not a local file URL".into()))?;
            return Self::local(root, path);
        }
        let store = cloud_store(&url).map_err(bad)?;
        let (store_url, prefix) = split_url(&url).map_err(bad)?;
        Ok(LakeLocation {
            store,
            store_url,
            prefix,
            display: root.trim_end_matches('/').to_string(),
            local_root: None,
        })
    }

    fn local(root: &str, path: PathBuf) -> Result<LakeLocation> {
        let path = std::path::absolute(&path).map_err(|source| HuntError::Io {
            context: format!("lake {root}"),
            source,
        })?;
        if !path.is_dir() {
            return Err(HuntError::Lake {
                root: root.to_string(),
                message: if path.exists() {
                    "is not a folder".into()
                } else {
                    "does not exist".into()
                },
            });
        }
        let prefix = Path::from_filesystem_path(&path).map_err(|e| HuntError::Lake {
            root: root.to_string(),
            message: e.to_string(),
        })?;
        Ok(LakeLocation {
            store: Arc::new(LocalFileSystem::new()),
            store_url: Url::parse("file:///").expect("a valid URL"),
            prefix,
            display: root.to_string(),
            local_root: Some(path),
        })
    }

    /// The store's URL in DataFusion's registry (`scheme://authority/`).
    pub fn store_url(&self) -> &Url {
        &self.store_url
    }

    pub fn is_local(&self) -> bool {
        self.local_root.is_some()
    }

    /// `location` as the user would write it: a local path, or a URL in the store.
    pub fn describe(&self, location: &Path) -> String {
        match &self.local_root {
            Some(_) => format!("/{location}"),
            None => format!("{}{location}", self.store_url),
        }
    }

    /// Makes the store reachable from `ctx`'s queries.
    pub fn register(&self, ctx: &SessionContext) {
        ctx.runtime_env()
            .register_object_store(&self.store_url, Arc::clone(&self.store));
    }

    /// A listing-table URL for exactly this object: no glob characters, no URL syntax (`#`,
    /// `?`, `%` in names are escaped, not interpreted).
    pub fn table_url(&self, location: &Path, folder: bool) -> Result<ListingTableUrl> {
        if let Some(_root) = &self.local_root {
            let path = LocalFileSystem::new()
                .path_to_filesystem(location)
                .map_err(|e| HuntError::Lake {
                    root: self.display.clone(),
                    message: e.to_string(),
                })?;
            return super::local_table_url(&path, folder);
        }
        let mut url = self.store_url.clone();
        let mut path = location.to_string();
        if folder {
            path.push('/');
        }
        // object_store paths are already percent-encoded where needed.
        url.set_path(&path);
        ListingTableUrl::try_new(url, None)
            .context(format!("the object {}", self.describe(location)))
    }
}

/// The store's own URL (`scheme://authority/`) and the path inside it.
fn split_url(url: &Url) -> std::result::Result<(Url, Path), String> {
    let store_url = Url::parse(&format!("{}://{}/", url.scheme(), authority(url)))
        .map_err(|e| format!("not a valid URL: {e}"))?;
    let prefix =
        Path::from_url_path(url.path()).map_err(|e| format!("not a valid object path: {e}"))?;
    Ok((store_url, prefix))
}

/// `host[:port]`, with the user part kept (`container@account...` for ADLS).
fn authority(url: &Url) -> String {
    let mut authority = String::new();
    if !url.username().is_empty() {
        authority.push_str(url.username());
        authority.push('@');
    }
    authority.push_str(url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        authority.push_str(&format!(":{port}"));
    }
    authority
}

/// Fail fast on an unreachable endpoint rather than retrying for minutes.
fn client_options() -> ClientOptions {
    ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(120))
        .with_allow_http(true)
}

fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: Duration::from_secs(20),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_store_and_prefix() {
        let split = |text: &str| {
            let (store, prefix) = split_url(&Url::parse(text).unwrap()).unwrap();
            (store.to_string(), prefix.to_string())
        };
        assert_eq!(
            split("az://lake/exports/defender"),
            ("az://lake/".into(), "exports/defender".into())
        );
        assert_eq!(
            split("abfss://lake@acct.dfs.core.windows.net/exports/"),
            (
                "abfss://lake@acct.dfs.core.windows.net/".into(),
                "exports".into()
            )
        );
        assert_eq!(split("s3://bucket"), ("s3://bucket/".into(), "".into()));
        assert_eq!(split("gs://b/a%20b/c"), ("gs://b/".into(), "a b/c".into()));
        let s3 = LakeLocation::parse("s3://bucket/x/").unwrap();
        assert_eq!(
            s3.describe(&Path::from("x/DeviceFileEvents/f.parquet")),
            "s3://bucket/x/DeviceFileEvents/f.parquet"
        );
        let err = LakeLocation::parse("ftp://host/x").unwrap_err().to_string();
        assert!(err.contains("unsupported URL scheme ftp://"), "{err}");
    }

    #[test]
    fn file_urls_and_paths_are_local() {
        let dir = tempfile::tempdir().unwrap();
        let url = Url::from_directory_path(dir.path()).unwrap();
        let by_url = LakeLocation::parse(url.as_str()).unwrap();
        let by_path = LakeLocation::parse(&dir.path().to_string_lossy()).unwrap();
        assert_eq!(by_url.prefix, by_path.prefix);
        assert!(by_url.is_local());
        let missing = LakeLocation::parse("/no/such/lake")
            .unwrap_err()
            .to_string();
        assert_eq!(missing, "lake /no/such/lake: does not exist");
    }
}
