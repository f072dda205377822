//! Datastores: file transfers over HTTPS (`/folder/<path>?dcPath=…&dsName=…`, the
//! session cookie as credentials), and directories and deletion through the
//! `FileManager`.

use super::{manager, wrapper, Datacenter};
use crate::find::Finder;
use crate::mo;
use crate::runtime::lock;
use crate::task::Task;
use crate::{methods, Error};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A path on a datastore in vSphere's notation: `[datastore1] dir/file.vmdk`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct DatastorePath {
    /// The datastore's name.
    pub datastore: String,
    /// The path inside it, `/`-separated, without a leading `/` (empty for the root).
    pub path: String,
}

impl DatastorePath {
    /// `[datastore] path`.
    pub fn new(datastore: impl Into<String>, path: impl Into<String>) -> Self {
        DatastorePath {
            datastore: datastore.into(),
            path: path.into().trim_start_matches('/').to_string(),
        }
    }

    /// Parses `[datastore] path` (the path may be empty: `[datastore]`).
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.trim().strip_prefix('[')?;
        let close = rest.find(']')?;
        let datastore = &rest[..close];
        if datastore.is_empty() {
            return None;
        }
        Some(DatastorePath::new(datastore, rest[close + 1..].trim()))
    }
}

impl fmt::Display for DatastorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "[{}]", self.datastore)
        } else {
            write!(f, "[{}] {}", self.datastore, self.path)
        }
    }
}

impl FromStr for DatastorePath {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        DatastorePath::parse(s).ok_or_else(|| {
            Error::InvalidInput(format!("{s:?} is not a datastore path ([datastore] path)"))
        })
    }
}

manager!(
    /// The service's `FileManager`: directories and files on datastores, by datastore
    /// path.
    FileManager,
    file_manager
);

impl FileManager {
    /// Creates the directory `path` (`[ds] a/b`); `create_parents` also creates the
    /// missing directories above it. `datacenter` is required by vCenter.
    pub async fn make_directory(
        &self,
        path: &DatastorePath,
        datacenter: Option<&Datacenter>,
        create_parents: bool,
    ) -> Result<(), Error> {
        let dc = datacenter.map(|d| d.reference());
        methods::make_directory(
            &self.client,
            &self.reference,
            &path.to_string(),
            dc,
            Some(create_parents),
        )
        .await
    }

    /// Starts deleting the file or directory (recursively) `path`. Returns the task.
    pub async fn delete_file(
        &self,
        path: &DatastorePath,
        datacenter: Option<&Datacenter>,
    ) -> Result<Task<()>, Error> {
        let dc = datacenter.map(|d| d.reference());
        let t = methods::delete_datastore_file_task(
            &self.client,
            &self.reference,
            &path.to_string(),
            dc,
        )
        .await?;
        Ok(Task::new(&self.client, t))
    }

    /// [`FileManager::delete_file`] and waits for the task.
    pub async fn delete_file_and_wait(
        &self,
        path: &DatastorePath,
        datacenter: Option<&Datacenter>,
    ) -> Result<(), Error> {
        self.delete_file(path, datacenter).await?.wait().await
    }
}

wrapper!(
    /// A datastore: its files over HTTPS, its directories through the `FileManager`.
    ///
    /// Transfers stream: memory stays at one chunk whatever the file size. They use
    /// the client's TLS policy and session; a progress callback sees
    /// `(bytes done, total)` after every chunk (`total` is `None` for a download whose
    /// size the server did not announce).
    ///
    /// ```no_run
    /// # async fn demo(client: vim25::Client, ds: vim25::types::ManagedObjectReference) -> Result<(), vim25::Error> {
    /// let ds = vim25::object::Datastore::new(&client, ds);
    /// ds.make_directory("isos", true).await?;
    /// ds.upload_file("alpine.iso".as_ref(), "isos/alpine.iso", |done, total| {
    ///     eprintln!("{done}/{}", total.unwrap_or(0));
    /// }).await?;
    /// ds.download_file("isos/alpine.iso", "/tmp/copy.iso".as_ref(), |_, _| {}).await?;
    /// # Ok(()) }
    /// ```
    Datastore
);

/// Bytes per chunk read from a local file for an upload.
const CHUNK: usize = 256 * 1024;

/// How long one transfer may take in all (the client's per-call timeout is meant for
/// SOAP calls, far too short for a large file).
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Where a datastore file is served, and what to call it and the transfer in errors.
struct Target {
    url: url::Url,
    file: DatastorePath,
    what: String,
}

impl Datastore {
    /// `[this datastore] path`.
    pub async fn path(&self, path: &str) -> Result<DatastorePath, Error> {
        Ok(DatastorePath::new(self.name().await?, path))
    }

    /// The datastore's summary (capacity, free space, type, URL).
    pub async fn summary(&self) -> Result<crate::types::DatastoreSummary, Error> {
        let ds: mo::Datastore = self.properties(&["summary"]).await?;
        ds.summary
            .ok_or_else(|| Error::NotFound(format!("summary of {}", self.reference())))
    }

    async fn target(&self, path: &str, verb: &str) -> Result<Target, Error> {
        let name = self.name().await?;
        let dc = self.datacenter().await?;
        let dc_path = Finder::new(self.client()).path_of(dc.reference()).await?;
        let path = path.trim_start_matches('/');
        let mut url = self.client().http()?.1.clone();
        url.set_path(&format!("/folder/{path}"));
        url.set_query(None);
        url.query_pairs_mut()
            .append_pair("dcPath", dc_path.trim_start_matches('/'))
            .append_pair("dsName", &name);
        let file = DatastorePath::new(name, path);
        Ok(Target {
            url,
            what: format!("{verb} {file}"),
            file,
        })
    }

    fn request(
        &self,
        method: reqwest::Method,
        target: &Target,
    ) -> Result<reqwest::RequestBuilder, Error> {
        let mut rb = self
            .client()
            .http()?
            .0
            .request(method, target.url.clone())
            .timeout(TRANSFER_TIMEOUT);
        if let Some(cookie) = self.client().session_cookie() {
            rb = rb.header(reqwest::header::COOKIE, cookie);
        }
        Ok(rb)
    }

    /// Uploads the local file `local` to `path` on this datastore, replacing any file
    /// there. The directory must exist ([`Datastore::make_directory`]; vcsim makes
    /// it). Returns the bytes sent; [`Error::NotFound`] when `local` does not exist,
    /// [`Error::Io`] when it cannot be read.
    pub async fn upload_file(
        &self,
        local: &Path,
        path: &str,
        progress: impl FnMut(u64, Option<u64>) + Send + 'static,
    ) -> Result<u64, Error> {
        let file = tokio::fs::File::open(local)
            .await
            .map_err(|e| local_error(local, "open", e))?;
        let len = file
            .metadata()
            .await
            .map_err(|e| local_error(local, "read the size of", e))?
            .len();
        let source = format!("local file {}", local.display());
        self.upload_from(file, &source, len, path, progress).await
    }

    /// Uploads `len` bytes read from `reader` to `path` on this datastore. Returns the
    /// bytes sent; [`Error::Io`] when reading fails.
    pub async fn upload<R>(
        &self,
        reader: R,
        len: u64,
        path: &str,
        progress: impl FnMut(u64, Option<u64>) + Send + 'static,
    ) -> Result<u64, Error>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        self.upload_from(reader, "the data to upload", len, path, progress)
            .await
    }

    /// [`Datastore::upload`], with `source` naming what `reader` reads for an error.
    async fn upload_from<R>(
        &self,
        reader: R,
        source: &str,
        len: u64,
        path: &str,
        progress: impl FnMut(u64, Option<u64>) + Send + 'static,
    ) -> Result<u64, Error>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        let target = self.target(path, "upload to").await?;
        tracing::debug!(url = %target.url, bytes = len, "datastore upload");
        let read_failure = Arc::new(Mutex::new(None));
        let body = reqwest::Body::wrap_stream(chunks(reader, len, progress, read_failure.clone()));
        let resp = self
            .request(reqwest::Method::PUT, &target)?
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            // A length, not chunked encoding: ESXi and vCenter refuse chunked uploads.
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(body)
            .send()
            .await
            .map_err(|e| match lock(&read_failure).take() {
                // The request failed because the body could not be read: local I/O.
                Some(io) => Error::io(format!("{}: cannot read {source}", target.what), io),
                None => http_error(&target.what, e),
            })?;
        check_status(&target, resp).await?;
        Ok(len)
    }

    /// Downloads `path` on this datastore into the local file `local` (created or
    /// truncated; removed again when the transfer fails). Returns the bytes received;
    /// [`Error::NotFound`] when there is no such file, [`Error::Io`] when `local`
    /// cannot be written.
    pub async fn download_file(
        &self,
        path: &str,
        local: &Path,
        progress: impl FnMut(u64, Option<u64>) + Send,
    ) -> Result<u64, Error> {
        // Asked first so that a missing remote file leaves no empty local one.
        let target = self.target(path, "download of").await?;
        let resp = self.get(&target).await?;
        let mut file = tokio::fs::File::create(local)
            .await
            .map_err(|e| local_error(local, "create", e))?;
        let sink = format!("local file {}", local.display());
        match receive(&target, resp, &mut file, &sink, progress).await {
            Ok(n) => Ok(n),
            Err(e) => {
                // A partial file would pass for the real one.
                drop(file);
                let _ = tokio::fs::remove_file(local).await;
                Err(e)
            }
        }
    }

    /// Downloads `path` on this datastore into `writer`. Returns the bytes received;
    /// [`Error::NotFound`] when there is no such file, [`Error::Io`] when writing
    /// fails.
    pub async fn download<W>(
        &self,
        path: &str,
        writer: &mut W,
        progress: impl FnMut(u64, Option<u64>) + Send,
    ) -> Result<u64, Error>
    where
        W: AsyncWrite + Unpin + Send,
    {
        let target = self.target(path, "download of").await?;
        let resp = self.get(&target).await?;
        receive(&target, resp, writer, "the writer", progress).await
    }

    async fn get(&self, target: &Target) -> Result<reqwest::Response, Error> {
        tracing::debug!(url = %target.url, "datastore download");
        let resp = self
            .request(reqwest::Method::GET, target)?
            .send()
            .await
            .map_err(|e| http_error(&target.what, e))?;
        check_status(target, resp).await
    }

    /// Creates the directory `path` on this datastore (`create_parents`: and the
    /// missing ones above it).
    pub async fn make_directory(&self, path: &str, create_parents: bool) -> Result<(), Error> {
        let dc = self.datacenter().await?;
        FileManager::new(self.client())?
            .make_directory(&self.path(path).await?, Some(&dc), create_parents)
            .await
    }

    /// Deletes the file or directory (recursively) `path` on this datastore and waits
    /// for it.
    pub async fn delete(&self, path: &str) -> Result<(), Error> {
        let dc = self.datacenter().await?;
        FileManager::new(self.client())?
            .delete_file_and_wait(&self.path(path).await?, Some(&dc))
            .await
    }
}

/// `reader` as a stream of chunks, reporting progress as each is handed to the body.
/// A read error ends the stream and is kept in `failed`, so that the failed request
/// can be reported as the local I/O error it is rather than as a network error.
fn chunks<R, P>(
    reader: R,
    total: u64,
    progress: P,
    failed: Arc<Mutex<Option<std::io::Error>>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static
where
    R: AsyncRead + Send + Unpin + 'static,
    P: FnMut(u64, Option<u64>) + Send + 'static,
{
    futures::stream::unfold(Some((reader, progress, 0u64)), move |state| {
        let failed = failed.clone();
        async move {
            let (mut reader, mut progress, done) = state?;
            let mut buf = vec![0u8; CHUNK];
            match reader.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    let done = done + n as u64;
                    progress(done, Some(total));
                    Some((Ok(buf), Some((reader, progress, done))))
                }
                Err(e) => {
                    let for_body = std::io::Error::new(e.kind(), e.to_string());
                    *lock(&failed) = Some(e);
                    Some((Err(for_body), None))
                }
            }
        }
    })
}

/// Copies a response body into `writer` (`sink` names it for an error), reporting
/// progress per chunk.
async fn receive<W>(
    target: &Target,
    mut resp: reqwest::Response,
    writer: &mut W,
    sink: &str,
    mut progress: impl FnMut(u64, Option<u64>) + Send,
) -> Result<u64, Error>
where
    W: AsyncWrite + Unpin + Send,
{
    let total = resp.content_length();
    let mut done = 0u64;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| http_error(&target.what, e))?
    {
        writer
            .write_all(&chunk)
            .await
            .map_err(|e| write_error(target, sink, e))?;
        done += chunk.len() as u64;
        progress(done, total);
    }
    writer
        .flush()
        .await
        .map_err(|e| write_error(target, sink, e))?;
    Ok(done)
}

fn write_error(target: &Target, sink: &str, e: std::io::Error) -> Error {
    Error::io(format!("{}: cannot write to {sink}", target.what), e)
}

/// The response when its status is a success; [`Error::NotFound`] for 404, else
/// [`Error::Http`] with the start of the body.
async fn check_status(
    target: &Target,
    resp: reqwest::Response,
) -> Result<reqwest::Response, Error> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(Error::NotFound(format!("datastore file {}", target.file)));
    }
    let body = resp.text().await.unwrap_or_default();
    Err(Error::Http {
        operation: target.what.clone(),
        status: status.as_u16(),
        message: body.chars().take(200).collect(),
    })
}

fn http_error(what: &str, e: reqwest::Error) -> Error {
    if e.is_timeout() {
        return Error::Timeout {
            operation: what.to_string(),
        };
    }
    Error::Network {
        operation: what.to_string(),
        message: crate::client::error_chain(&e),
    }
}

/// A local file problem: [`Error::NotFound`] for a missing file (as for a missing
/// datastore file), else [`Error::Io`] with the path.
fn local_error(path: &Path, verb: &str, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::NotFound(format!("local file {}", path.display()))
    } else {
        Error::io(format!("cannot {verb} local file {}", path.display()), e)
    }
}
