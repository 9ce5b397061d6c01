//! The CLI's persisted state: the component's `export-state` document in one
//! file, shared by every `mcp-oauth` process of the user.
//!
//! - Where: `state.json` in the state directory — `--state-dir`, else
//!   `$MCP_OAUTH_STATE_DIR`, else `$XDG_STATE_HOME/mcp-oauth`, else
//!   `~/.local/state/mcp-oauth` ([`state_dir`]). The directory is created
//!   with mode 0700, the file is written with mode 0600: it holds tokens,
//!   refresh tokens, client secrets and the DPoP key.
//! - How: atomically (a temporary file in the same directory, fsync, rename,
//!   fsync of the directory), and only while holding an exclusive advisory
//!   lock (`flock`) on `state.lock` next to it. The lock is held for a
//!   read-modify-write of the file and for a token refresh, never while a
//!   user authorizes in a browser or while a response streams.
//! - One refresh at a time: before each request the host asks the component
//!   for `token-status`; when it says `renewable`, it takes the lock, reads
//!   the file again and imports the newest state, calls `renew` only if the
//!   token still needs it, writes the result and releases the lock
//!   ([`Persistence::prepare`]). A second process waiting for the lock finds
//!   the renewed token and redeems nothing, so a rotating refresh token is
//!   used once.
//! - Concurrent writers: a process writes back its changes with a
//!   three-way merge ([`merge`]) against what it last read, entry by entry
//!   (a client per issuer, a token per resource and issuer, a binding per
//!   server, metadata per issuer): entries it did not change keep what
//!   another process wrote since; for an entry both changed, the last writer
//!   wins. Members this version does not know are kept as they are.
//! - A file that cannot be read, is not a state document, or has a newer
//!   format version than the component reads is refused with an error naming
//!   it, and is never overwritten.
//!
//! `status` and `logout` read the document with `serde_json`, tolerating
//! members they do not know; neither ever prints a token, secret or key.

use crate::harness::{AuthError, Instance, TokenInfo, TokenState};
use anyhow::{anyhow, bail, Context as _};
use serde_json::{Map, Value};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable that names the state directory.
pub const STATE_DIR_VAR: &str = "MCP_OAUTH_STATE_DIR";
/// The state file's name in the state directory.
pub const STATE_FILE: &str = "state.json";
/// The lock file's name in the state directory.
pub const LOCK_FILE: &str = "state.lock";
/// The newest state format version the component reads.
pub const STATE_VERSION: u64 = mcp_oauth_core::store::STATE_VERSION as u64;

/// The state directory: `flag` (`--state-dir`), else `$MCP_OAUTH_STATE_DIR`,
/// else `$XDG_STATE_HOME/mcp-oauth` (when absolute), else
/// `$HOME/.local/state/mcp-oauth`. `var` looks up environment variables;
/// empty ones count as unset.
pub fn state_dir(
    flag: Option<&Path>,
    var: impl Fn(&str) -> Option<OsString>,
) -> anyhow::Result<PathBuf> {
    if let Some(dir) = flag {
        return Ok(dir.to_path_buf());
    }
    let non_empty = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = non_empty(STATE_DIR_VAR) {
        return Ok(dir);
    }
    non_empty("XDG_STATE_HOME")
        .filter(|d| d.is_absolute())
        .or_else(|| non_empty("HOME").map(|h| h.join(".local").join("state")))
        .map(|d| d.join("mcp-oauth"))
        .with_context(|| {
            format!(
                "cannot find a state directory: HOME is not set; \
                 give --state-dir or set {STATE_DIR_VAR}"
            )
        })
}

/// The seconds since the Unix epoch now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The state file in a state directory.
#[derive(Debug, Clone)]
pub struct StateFile {
    dir: PathBuf,
}

/// A state document read from the file.
#[derive(Debug, Clone)]
pub struct Document {
    /// The bytes as stored.
    pub bytes: Vec<u8>,
    /// The parsed document: an object with a supported `version`.
    pub json: Value,
}

/// The exclusive lock on the state; released when dropped.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
    state: StateFile,
}

impl StateFile {
    /// The state file in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> StateFile {
        StateFile { dir: dir.into() }
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The state file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// The lock file's path.
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(LOCK_FILE)
    }

    /// Reads the document; `None` when there is no file. Errors name the
    /// file and say why it cannot be used.
    pub fn read(&self) -> anyhow::Result<Option<Document>> {
        check_dir(&self.dir)?;
        let path = self.path();
        check_file(&path)?;
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => bail!("cannot read the state file {}: {e}", path.display()),
        };
        let json = parse_document(&bytes).map_err(|e| unusable(&path, &e))?;
        Ok(Some(Document { bytes, json }))
    }

    /// Creates the state directory (mode 0700) when it is missing.
    fn create_dir(&self) -> anyhow::Result<()> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&self.dir)
            .with_context(|| format!("cannot create the state directory {}", self.dir.display()))?;
        check_dir(&self.dir)
    }

    fn open_lock_file(&self) -> anyhow::Result<File> {
        self.create_dir()?;
        let path = self.lock_path();
        check_file(&path)?;
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))
    }

    /// Takes the exclusive lock, waiting for another process to release it.
    pub fn lock(&self) -> anyhow::Result<StateLock> {
        let file = self.open_lock_file()?;
        file.lock()
            .with_context(|| format!("cannot lock {}", self.lock_path().display()))?;
        Ok(StateLock {
            _file: file,
            state: self.clone(),
        })
    }

    /// Takes the exclusive lock if no other process holds it.
    pub fn try_lock(&self) -> anyhow::Result<Option<StateLock>> {
        let file = self.open_lock_file()?;
        match file.try_lock() {
            Ok(()) => Ok(Some(StateLock {
                _file: file,
                state: self.clone(),
            })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", self.lock_path().display()))
            }
        }
    }

    /// Takes the exclusive lock without blocking the async runtime;
    /// `waiting` is called once if another process holds it.
    pub async fn lock_async(&self, waiting: impl FnOnce()) -> anyhow::Result<StateLock> {
        if let Some(lock) = self.try_lock()? {
            return Ok(lock);
        }
        waiting();
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.lock())
            .await
            .context("waiting for the state lock")?
    }
}

impl StateLock {
    /// The state file this lock protects.
    pub fn file(&self) -> &StateFile {
        &self.state
    }

    /// Reads the document (under the lock, so it is the newest).
    pub fn read(&self) -> anyhow::Result<Option<Document>> {
        self.state.read()
    }

    /// Replaces the state file with `doc`: a temporary file in the same
    /// directory with mode 0600, synced, renamed over the state file, then
    /// the directory synced.
    pub fn write(&self, doc: &Value) -> anyhow::Result<()> {
        let path = self.state.path();
        let bytes = serde_json::to_vec(doc).context("serialising the state")?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let temp = self
            .state
            .dir
            .join(format!("{STATE_FILE}.tmp-{}-{nanos}", std::process::id()));
        let written = (|| -> std::io::Result<()> {
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&temp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            fs::rename(&temp, &path)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            bail!("cannot write the state file {}: {e}", path.display());
        }
        // The rename is durable once the directory is synced.
        if let Ok(dir) = File::open(&self.state.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

/// Refuses a state directory that another user could tamper with (security
/// review finding 7): a symbolic link, not a directory, owned by another
/// user, or writable by group or others. A missing one is fine (it is
/// created with mode 0700).
fn check_dir(dir: &Path) -> anyhow::Result<()> {
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => bail!("cannot inspect the state directory {}: {e}", dir.display()),
    };
    if meta.file_type().is_symlink() {
        bail!(
            "the state directory {} is a symbolic link; refusing to follow it (give the real directory)",
            dir.display()
        );
    }
    if !meta.is_dir() {
        bail!("the state directory {} is not a directory", dir.display());
    }
    check_owner_and_mode(dir, &meta, "state directory")
}

/// Refuses a state or lock file that is a symbolic link or belongs to
/// another user; a missing one is fine.
fn check_file(path: &Path) -> anyhow::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => bail!("cannot inspect {}: {e}", path.display()),
    };
    if !meta.file_type().is_file() {
        bail!(
            "{} is not a regular file (a symbolic link?); refusing to use it",
            path.display()
        );
    }
    check_owner_and_mode(path, &meta, "file")
}

#[cfg(unix)]
fn check_owner_and_mode(path: &Path, meta: &fs::Metadata, what: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        bail!(
            "the {what} {} belongs to another user (uid {}, this process runs as {me}); refusing it",
            path.display(),
            meta.uid()
        );
    }
    if meta.mode() & 0o022 != 0 {
        bail!(
            "the {what} {} can be written by other users (mode {:o}); run chmod go-w on it",
            path.display(),
            meta.mode() & 0o777
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner_and_mode(_: &Path, _: &fs::Metadata, _: &str) -> anyhow::Result<()> {
    Ok(())
}

/// The error for a state file that cannot be used.
fn unusable(path: &Path, reason: &str) -> anyhow::Error {
    let advice = if reason.contains("is not supported") {
        "it was written by a newer mcp-oauth: use that one"
    } else {
        "delete it to start over"
    };
    anyhow!(
        "the state file {} cannot be used: {reason}. It was left as it is; {advice}",
        path.display()
    )
}

/// Parses a state document: a JSON object whose `version` this component
/// reads (1 up to [`STATE_VERSION`]).
pub fn parse_document(bytes: &[u8]) -> Result<Value, String> {
    let json: Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("it is not a valid state document: {e}"))?;
    if !json.is_object() {
        return Err("it is not a valid state document: not a JSON object".into());
    }
    match json.get("version").and_then(Value::as_u64) {
        None => Err("it is not a valid state document: version is missing".into()),
        // The component's own words for a version it does not read.
        Some(v) if v == 0 || v > STATE_VERSION => Err(format!(
            "state version {v} is not supported (this component reads 1..={STATE_VERSION})"
        )),
        Some(_) => Ok(json),
    }
}

/// The members of a state document that are maps keyed by a string.
const KEYED_MAPS: [&str; 4] = ["clients", "bindings", "metadata", "credential_issuers"];

/// Three-way merge of state documents: `mine` (this process's state now),
/// `disk` (the file now) and `base` (the state this process last read or
/// wrote). Entry by entry — clients, bindings and metadata by key, tokens
/// by resource and issuer, other members whole — an entry this process did
/// not change takes the file's value (or its absence); one it changed (or
/// removed) takes its own. The version is `mine`'s.
pub fn merge(base: &Value, mine: &Value, disk: &Value) -> Value {
    let empty = Map::new();
    let obj = |v: &'_ Value| v.as_object().cloned().unwrap_or_else(|| empty.clone());
    let (b, m, d) = (obj(base), obj(mine), obj(disk));
    let mut names: Vec<&String> = d.keys().collect();
    names.extend(m.keys().filter(|k| !d.contains_key(*k)));
    names.extend(
        b.keys()
            .filter(|k| !d.contains_key(*k) && !m.contains_key(*k)),
    );
    let mut out = Map::new();
    for name in names {
        let (bv, mv, dv) = (b.get(name), m.get(name), d.get(name));
        let merged = if name == "version" {
            mv.or(dv).cloned()
        } else if name == "tokens" && [bv, mv, dv].iter().flatten().all(|v| v.is_array()) {
            let entries = |v: Option<&Value>| {
                v.and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|t| (token_key(t), t.clone()))
                    .collect::<Vec<_>>()
            };
            let merged = merge_entries(entries(bv), entries(mv), entries(dv));
            Some(Value::Array(merged.into_iter().map(|(_, v)| v).collect()))
        } else if KEYED_MAPS.contains(&name.as_str())
            && [bv, mv, dv].iter().flatten().all(|v| v.is_object())
        {
            let entries = |v: Option<&Value>| {
                v.and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<Vec<_>>()
            };
            let merged = merge_entries(entries(bv), entries(mv), entries(dv));
            Some(Value::Object(merged.into_iter().collect()))
        } else {
            pick(bv, mv, dv).cloned()
        };
        if let Some(v) = merged {
            out.insert(name.clone(), v);
        }
    }
    Value::Object(out)
}

/// The merge rule for one entry: unchanged here → the file's; else ours.
fn pick<'a>(
    base: Option<&'a Value>,
    mine: Option<&'a Value>,
    disk: Option<&'a Value>,
) -> Option<&'a Value> {
    if mine == base {
        disk
    } else {
        mine
    }
}

/// A token's identity: its resource and issuer (the whole entry if it has
/// neither, which the component would refuse anyway).
fn token_key(token: &Value) -> String {
    match (token.get("resource"), token.get("issuer")) {
        (Some(r), Some(i)) => Value::Array(vec![r.clone(), i.clone()]).to_string(),
        _ => token.to_string(),
    }
}

/// Merges keyed entries with [`pick`]; the file's order first, then new
/// entries of ours.
fn merge_entries(
    base: Vec<(String, Value)>,
    mine: Vec<(String, Value)>,
    disk: Vec<(String, Value)>,
) -> Vec<(String, Value)> {
    let get = |list: &'_ [(String, Value)], key: &str| -> Option<Value> {
        list.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    };
    let mut keys: Vec<String> = disk.iter().map(|(k, _)| k.clone()).collect();
    for (k, _) in &mine {
        if !keys.contains(k) {
            keys.push(k.clone());
        }
    }
    keys.into_iter()
        .filter_map(|k| {
            let (b, m, d) = (get(&base, &k), get(&mine, &k), get(&disk, &k));
            pick(b.as_ref(), m.as_ref(), d.as_ref())
                .cloned()
                .map(|v| (k, v))
        })
        .collect()
}

/// What [`Persistence::prepare`] did before a request.
#[derive(Debug)]
pub enum Renewal {
    /// The token did not need renewing (fresh, absent, or only a user can
    /// replace it).
    NotNeeded,
    /// Another process renewed it while this one waited for the lock.
    ByAnotherProcess,
    /// Renewed here.
    Renewed(TokenInfo),
    /// Renewing failed; the component dropped what is dead and the request
    /// goes on (it authorizes again if it must).
    Failed(AuthError),
}

/// Keeps a component instance's state in a [`StateFile`].
#[derive(Debug)]
pub struct Persistence {
    file: StateFile,
    /// The state this instance had when it last read or wrote the file, as
    /// the component exports it.
    base: Value,
}

/// Why the component refused a state document (`invalid-argument` says;
/// no other case is expected from `import-state`).
fn refusal(e: &AuthError) -> String {
    match e {
        AuthError::InvalidArgument(reason) => reason.clone(),
        other => format!("{other:?}"),
    }
}

/// The component's state as JSON.
async fn exported(instance: &mut Instance) -> anyhow::Result<Value> {
    let bytes = instance.export_state().await?;
    serde_json::from_slice(&bytes).context("the component exported a state that is not JSON")
}

impl Persistence {
    /// Imports `doc` (read from `file` by the caller) into `instance` and
    /// starts keeping its state there. A document the component refuses is
    /// an error naming the file; the file is left as it is.
    pub async fn attach(
        file: StateFile,
        doc: Option<&Document>,
        instance: &mut Instance,
    ) -> anyhow::Result<Persistence> {
        if let Some(doc) = doc {
            instance
                .import_state(&doc.bytes)
                .await?
                .map_err(|e| unusable(&file.path(), &refusal(&e)))?;
        }
        let base = exported(instance).await?;
        Ok(Persistence { file, base })
    }

    /// The state file.
    pub fn file(&self) -> &StateFile {
        &self.file
    }

    /// With the lock held: merges the file's newest state with this
    /// instance's, imports the result when it differs from the instance's
    /// and writes it when it differs from the file's.
    async fn sync_locked(
        &mut self,
        lock: &StateLock,
        instance: &mut Instance,
    ) -> anyhow::Result<()> {
        let disk = lock.read()?;
        let mine = exported(instance).await?;
        let merged = match &disk {
            Some(doc) => merge(&self.base, &mine, &doc.json),
            None => mine.clone(),
        };
        if merged != mine {
            let bytes = serde_json::to_vec(&merged).context("serialising the state")?;
            instance
                .import_state(&bytes)
                .await?
                .map_err(|e| unusable(&self.file.path(), &refusal(&e)))?;
        }
        if disk.as_ref().map(|d| &d.json) != Some(&merged) {
            lock.write(&merged)?;
        }
        self.base = exported(instance).await?;
        Ok(())
    }

    /// Writes the instance's state to the file if it changed since the last
    /// read or write, merged with what other processes wrote meanwhile.
    /// The lock is held only for this.
    pub async fn save(
        &mut self,
        instance: &mut Instance,
        waiting: impl FnOnce(),
    ) -> anyhow::Result<()> {
        if exported(instance).await? == self.base {
            return Ok(());
        }
        let lock = self.file.lock_async(waiting).await?;
        self.sync_locked(&lock, instance).await
    }

    /// Before a request to the server at `url`: when `token-status` says
    /// `renewable`, takes the lock, imports the newest state, renews the
    /// token only if it still needs it, writes the state and releases the
    /// lock. Costs one `token-status` call (no I/O) otherwise.
    pub async fn prepare(
        &mut self,
        instance: &mut Instance,
        url: &str,
        waiting: impl FnOnce(),
    ) -> anyhow::Result<Renewal> {
        if instance.token_status(url).await? != TokenState::Renewable {
            return Ok(Renewal::NotNeeded);
        }
        let lock = self.file.lock_async(waiting).await?;
        self.sync_locked(&lock, instance).await?;
        let renewal = match instance.token_status(url).await? {
            TokenState::Renewable => match instance.renew(url).await? {
                Ok(Some(info)) => Renewal::Renewed(info),
                Ok(None) => Renewal::NotNeeded,
                Err(e) => Renewal::Failed(e),
            },
            TokenState::Fresh => Renewal::ByAnotherProcess,
            TokenState::None | TokenState::Stale => Renewal::NotNeeded,
        };
        self.sync_locked(&lock, instance).await?;
        drop(lock);
        Ok(renewal)
    }
}

/// The URL as the component keys servers: parsed, without its fragment
/// (the raw text if it does not parse).
pub fn server_key(url: &str) -> String {
    mcp_oauth_core::url::Url::parse(url)
        .map(|u| u.without_fragment())
        .unwrap_or_else(|_| url.to_string())
}

/// The port of a CLI redirect URI, `http://127.0.0.1:<port>/callback`.
fn callback_port(uri: &str) -> Option<u16> {
    let port = uri
        .strip_prefix("http://127.0.0.1:")?
        .strip_suffix("/callback")?
        .parse()
        .ok()?;
    (uri == format!("http://127.0.0.1:{port}/callback")).then_some(port)
}

/// The loopback port of the redirect URI a stored registration uses —
/// that of the issuer `server_url` is bound to, else the first one's — if
/// it is `http://127.0.0.1:<port>/callback`: redirecting there again
/// reuses the registration instead of registering anew.
pub fn registered_port(doc: &Value, server_url: &str) -> Option<u16> {
    let clients = doc["clients"].as_object()?;
    match doc["bindings"][server_key(server_url)]["issuer"].as_str() {
        Some(issuer) => callback_port(clients.get(issuer)?["redirect_uri"].as_str()?),
        None => clients
            .values()
            .find_map(|c| callback_port(c["redirect_uri"].as_str()?)),
    }
}

/// `2026-11-27 05:12:00 UTC` for seconds since the Unix epoch.
pub fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// A duration in seconds, rounded to a readable unit.
fn span(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7_200 => format!("{} min", secs / 60),
        7_200..172_800 => format!("{} h", secs / 3_600),
        _ => format!("{} days", secs / 86_400),
    }
}

/// `in 59 min` or `expired 3 h ago`.
pub fn relative(at: u64, now: u64) -> String {
    if at > now {
        format!("in {}", span(at - now))
    } else {
        format!("expired {} ago", span(now - at))
    }
}

/// The tokens of a document, as (resource, issuer, entry).
fn tokens(doc: &Value) -> Vec<(&str, &str, &Value)> {
    doc["tokens"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["resource"].as_str()?, t["issuer"].as_str()?, t)))
        .collect()
}

/// One line about a token: type, expiry, scope, refresh token, grant.
/// Never the token.
fn describe_token(t: &Value, now: u64) -> String {
    let mut parts = vec![t["token_type"].as_str().unwrap_or("?").to_string()];
    parts.push(match t["expires_at"].as_u64() {
        Some(at) => format!("expires {} ({})", format_utc(at), relative(at, now)),
        None => "no expiry given".into(),
    });
    parts.push(format!("scope {}", t["scope"].as_str().unwrap_or("(none)")));
    parts.push(
        if t["refresh_token"].is_string() {
            "refresh token held"
        } else {
            "no refresh token"
        }
        .into(),
    );
    if let Some(grant) = t["grant_type"].as_str() {
        parts.push(format!("obtained with {grant}"));
    }
    parts.join(", ")
}

/// What `mcp-oauth status` prints for a document: servers with their
/// resource, issuer and token, tokens of no server, registered clients per
/// issuer, cached metadata. Never a token, secret or key.
pub fn status_report(doc: &Value, now: u64) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    let version = doc["version"].as_u64().unwrap_or(0);
    line(format!("format version {version}"));
    let bindings: Vec<(&String, &Value)> = doc["bindings"]
        .as_object()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    let all_tokens = tokens(doc);
    line(String::new());
    if bindings.is_empty() {
        line("servers: none".into());
    } else {
        line("servers:".into());
    }
    let mut shown = Vec::new();
    for (server, b) in &bindings {
        let resource = b["resource"].as_str().unwrap_or("?");
        let issuer = b["issuer"].as_str().unwrap_or("?");
        line(format!("  {server}"));
        line(format!("    resource  {resource}"));
        line(format!("    issuer    {issuer}"));
        match all_tokens
            .iter()
            .find(|(r, i, _)| *r == resource && *i == issuer)
        {
            Some((_, _, t)) => {
                shown.push((resource, issuer));
                line(format!("    token     {}", describe_token(t, now)));
            }
            None => line("    token     none (authorizes on the next connect)".into()),
        }
    }
    let orphans: Vec<_> = all_tokens
        .iter()
        .filter(|(r, i, _)| !shown.contains(&(*r, *i)))
        .collect();
    if !orphans.is_empty() {
        line(String::new());
        line("tokens of no server:".into());
        for (resource, issuer, t) in orphans {
            line(format!("  {resource} from {issuer}"));
            line(format!("    token     {}", describe_token(t, now)));
        }
    }
    line(String::new());
    match doc["clients"].as_object().filter(|m| !m.is_empty()) {
        None => line("registered clients: none".into()),
        Some(clients) => {
            line("registered clients:".into());
            for (issuer, c) in clients {
                let method = match c["auth_method"].as_str() {
                    Some("none") => "public client",
                    Some(other) => other,
                    None => "?",
                };
                let secret = if c["client_secret"].is_string() {
                    ", client secret held"
                } else {
                    ""
                };
                line(format!("  {issuer}"));
                line(format!(
                    "    client id {} ({method}{secret})",
                    c["client_id"].as_str().unwrap_or("?")
                ));
                if let Some(uri) = c["redirect_uri"].as_str() {
                    line(format!("    redirect  {uri}"));
                }
                if let Some(at) = c["secret_expires_at"].as_u64().filter(|t| *t > 0) {
                    line(format!(
                        "    secret    expires {} ({})",
                        format_utc(at),
                        relative(at, now)
                    ));
                }
            }
        }
    }
    if let Some(metadata) = doc["metadata"].as_object().filter(|m| !m.is_empty()) {
        line(String::new());
        line("authorization server metadata cached:".into());
        for (issuer, m) in metadata {
            match m["fetched_at"].as_u64() {
                Some(at) => line(format!(
                    "  {issuer} (fetched {} ago)",
                    span(now.saturating_sub(at))
                )),
                None => line(format!("  {issuer}")),
            }
        }
    }
    if doc["dpop_key"].is_string() {
        line(String::new());
        line("a DPoP key is held".into());
    }
    out
}

/// What [`logout`] removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Removed {
    /// (resource, issuer) of each token removed.
    pub tokens: Vec<(String, String)>,
    /// Server URLs whose binding was removed.
    pub bindings: Vec<String>,
}

/// Forgets the tokens and bindings of the server at `url`, or of every
/// server when `None`. A server's tokens are the one its binding names and
/// any whose resource is `url`; bindings to a removed token go too.
/// Registrations, metadata, the DPoP key and unknown members are kept.
pub fn logout(doc: &mut Value, url: Option<&str>) -> Removed {
    let key = url.map(server_key);
    let mut removed = Removed::default();
    let bindings = doc
        .get("bindings")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let pair = |b: &Value| -> Option<(String, String)> {
        Some((
            b["resource"].as_str()?.to_string(),
            b["issuer"].as_str()?.to_string(),
        ))
    };
    // The (resource, issuer) pairs to forget, and resources to forget
    // from any issuer.
    let mut pairs: Vec<(String, String)> = bindings
        .iter()
        .filter(|(server, _)| key.as_ref().is_none_or(|k| k == *server))
        .filter_map(|(_, b)| pair(b))
        .collect();
    if let Some(Value::Array(list)) = doc.get_mut("tokens") {
        list.retain(|t| {
            let (Some(r), Some(i)) = (t["resource"].as_str(), t["issuer"].as_str()) else {
                return true;
            };
            let gone = match &key {
                None => true,
                Some(k) => r == k || pairs.iter().any(|(pr, pi)| pr == r && pi == i),
            };
            if gone {
                removed.tokens.push((r.to_string(), i.to_string()));
            }
            !gone
        });
    }
    pairs.extend(removed.tokens.iter().cloned());
    if let Some(Value::Object(map)) = doc.get_mut("bindings") {
        map.retain(|server, b| {
            let gone = match &key {
                None => true,
                Some(k) => k == server || pair(b).is_some_and(|p| pairs.contains(&p)),
            };
            if gone {
                removed.bindings.push(server.clone());
            }
            !gone
        });
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_state_directory_follows_the_flag_the_variable_then_xdg() {
        let vars = |list: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                list.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let all: &[(&str, &str)] = &[
            (STATE_DIR_VAR, "/var/s"),
            ("XDG_STATE_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(
            state_dir(Some(Path::new("/flag")), vars(all)).unwrap(),
            Path::new("/flag")
        );
        assert_eq!(state_dir(None, vars(all)).unwrap(), Path::new("/var/s"));
        assert_eq!(
            state_dir(
                None,
                vars(&[
                    (STATE_DIR_VAR, ""),
                    ("XDG_STATE_HOME", "/x"),
                    ("HOME", "/h")
                ])
            )
            .unwrap(),
            Path::new("/x/mcp-oauth")
        );
        // A relative XDG_STATE_HOME is ignored (XDG Base Directory spec).
        assert_eq!(
            state_dir(None, vars(&[("XDG_STATE_HOME", "rel"), ("HOME", "/h")])).unwrap(),
            Path::new("/h/.local/state/mcp-oauth")
        );
        let e = state_dir(None, vars(&[])).unwrap_err().to_string();
        assert!(
            e.contains("--state-dir") && e.contains(STATE_DIR_VAR),
            "{e}"
        );
    }

    #[test]
    fn documents_are_checked_before_use() {
        assert!(parse_document(br#"{"version":2,"future":[1]}"#).is_ok());
        assert!(parse_document(br#"{"version":1}"#).is_ok());
        for (doc, needle) in [
            (&b"\xff\xfe garbage"[..], "not a valid state document"),
            (b"[]", "not a JSON object"),
            (b"{}", "version is missing"),
            (br#"{"version":0}"#, "state version 0 is not supported"),
            (
                br#"{"version":3}"#,
                "state version 3 is not supported (this component reads 1..=2)",
            ),
        ] {
            let e = parse_document(doc).unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
    }

    fn token(resource: &str, issuer: &str, at: &str) -> Value {
        json!({"resource": resource, "issuer": issuer, "access_token": at, "token_type": "Bearer"})
    }

    #[test]
    fn merge_keeps_what_others_wrote_and_what_we_changed() {
        let base = json!({
            "version": 2,
            "clients": {"i1": {"client_id": "a"}},
            "tokens": [token("r1", "i1", "AT1"), token("r2", "i1", "AT2")],
            "bindings": {"s1": {"resource": "r1", "issuer": "i1"}},
            "metadata": {},
        });
        // We refreshed r1's token and added a binding.
        let mut mine = base.clone();
        mine["tokens"][0] = token("r1", "i1", "AT1-new");
        mine["bindings"]["s3"] = json!({"resource": "r3", "issuer": "i1"});
        // Another process replaced r2's token, added r4's, removed a
        // client, and wrote a member we do not know.
        let mut disk = base.clone();
        disk["tokens"][1] = token("r2", "i1", "AT2-other");
        disk["tokens"]
            .as_array_mut()
            .unwrap()
            .push(token("r4", "i2", "AT4"));
        disk["clients"] = json!({});
        disk["future"] = json!({"x": 1});
        let merged = merge(&base, &mine, &disk);
        let ats: Vec<&str> = merged["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["access_token"].as_str().unwrap())
            .collect();
        assert_eq!(ats, ["AT1-new", "AT2-other", "AT4"]);
        assert_eq!(merged["clients"], json!({}));
        assert_eq!(merged["bindings"].as_object().unwrap().len(), 2);
        assert_eq!(merged["future"], json!({"x": 1}));
        assert_eq!(merged["version"], 2);
        // Both changed the same token: ours (the last writer) wins.
        let mut disk2 = base.clone();
        disk2["tokens"][0] = token("r1", "i1", "AT1-other");
        let merged = merge(&base, &mine, &disk2);
        assert_eq!(merged["tokens"][0]["access_token"], "AT1-new");
        // We removed a token: it stays removed; one removed on disk too.
        let mut mine2 = base.clone();
        mine2["tokens"].as_array_mut().unwrap().remove(0);
        let mut disk3 = base.clone();
        disk3["tokens"].as_array_mut().unwrap().remove(1);
        assert_eq!(merge(&base, &mine2, &disk3)["tokens"], json!([]));
        // Nothing changed here: the file's state wins whole.
        assert_eq!(merge(&base, &base, &disk), disk);
    }

    #[test]
    fn logout_forgets_one_server_or_all() {
        let doc = json!({
            "version": 2,
            "clients": {"i1": {"client_id": "c"}},
            "tokens": [
                token("https://a.example/mcp", "i1", "AT-a"),
                token("https://b.example/mcp", "i1", "AT-b"),
            ],
            "bindings": {
                "https://a.example/mcp": {"resource": "https://a.example/mcp", "issuer": "i1"},
                "https://a.example/mcp?x=1": {"resource": "https://a.example/mcp", "issuer": "i1"},
                "https://b.example/mcp": {"resource": "https://b.example/mcp", "issuer": "i1"},
            },
            "metadata": {"i1": {}},
            "future": true,
        });
        let mut one = doc.clone();
        let removed = logout(&mut one, Some("https://a.example/mcp#frag"));
        assert_eq!(
            removed.tokens,
            [("https://a.example/mcp".to_string(), "i1".to_string())]
        );
        assert_eq!(
            removed.bindings,
            ["https://a.example/mcp", "https://a.example/mcp?x=1"]
        );
        assert_eq!(one["tokens"].as_array().unwrap().len(), 1);
        assert_eq!(one["tokens"][0]["access_token"], "AT-b");
        assert_eq!(one["clients"], doc["clients"]);
        assert_eq!(one["future"], true);
        let mut none = doc.clone();
        assert_eq!(
            logout(&mut none, Some("https://c.example/mcp")),
            Removed::default()
        );
        assert_eq!(none, doc);
        let mut all = doc.clone();
        let removed = logout(&mut all, None);
        assert_eq!((removed.tokens.len(), removed.bindings.len()), (2, 3));
        assert_eq!(all["tokens"], json!([]));
        assert_eq!(all["bindings"], json!({}));
        assert_eq!(all["metadata"], doc["metadata"]);
    }

    #[test]
    fn status_shows_what_is_stored_but_no_secret() {
        let doc = json!({
            "version": 2,
            "clients": {"https://as.example": {
                "client_id": "cid-1", "client_secret": "SECRET-client",
                "auth_method": "client_secret_basic",
                "redirect_uri": "http://127.0.0.1:8976/callback",
                "secret_expires_at": 1_900_000_000u64,
            }},
            "tokens": [
                {"resource": "https://mcp.example/mcp", "issuer": "https://as.example",
                 "access_token": "SECRET-at", "refresh_token": "SECRET-rt",
                 "token_type": "Bearer", "expires_at": 1_800_003_600u64,
                 "scope": "mcp:read", "grant_type": "authorization_code"},
                {"resource": "https://other.example", "issuer": "https://as.example",
                 "access_token": "SECRET-at2", "token_type": "DPoP"},
            ],
            "bindings": {"https://mcp.example/mcp": {
                "resource": "https://mcp.example/mcp", "issuer": "https://as.example"}},
            "metadata": {"https://as.example": {"metadata": {}, "fetched_at": 1_800_000_000u64}},
            "dpop_key": "SECRET-key",
        });
        let text = status_report(&doc, 1_800_000_060);
        for needle in [
            "https://mcp.example/mcp",
            "issuer    https://as.example",
            "expires 2027-01-15 09:00:00 UTC (in 59 min)",
            "scope mcp:read",
            "refresh token held",
            "obtained with authorization_code",
            "tokens of no server:",
            "https://other.example from https://as.example",
            "DPoP, no expiry given, scope (none), no refresh token",
            "client id cid-1 (client_secret_basic, client secret held)",
            "redirect  http://127.0.0.1:8976/callback",
            "(fetched 60 s ago)",
            "a DPoP key is held",
        ] {
            assert!(text.contains(needle), "{needle:?} missing:\n{text}");
        }
        assert!(!text.contains("SECRET"), "{text}");
        assert!(status_report(&json!({"version": 1}), 0).contains("servers: none"));
    }

    #[test]
    fn times_read_well() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_800_003_600), "2027-01-15 09:00:00 UTC");
        assert_eq!(relative(100, 40), "in 60 s");
        assert_eq!(relative(100, 7_300), "expired 2 h ago");
        assert_eq!(relative(10 * 86_400, 0), "in 10 days");
    }

    #[test]
    fn the_registered_loopback_port_is_found() {
        let doc = json!({
            "bindings": {"http://127.0.0.1:5000/mcp": {"resource": "r", "issuer": "i"}},
            "clients": {"i": {"redirect_uri": "http://127.0.0.1:41234/callback"}},
        });
        assert_eq!(
            registered_port(&doc, "http://127.0.0.1:5000/mcp"),
            Some(41234)
        );
        // A server not seen yet: any registration's port.
        assert_eq!(
            registered_port(&doc, "http://127.0.0.1:5001/mcp"),
            Some(41234)
        );
        let other = json!({
            "bindings": {"s": {"resource": "r", "issuer": "i"}},
            "clients": {
                "i": {"redirect_uri": "http://localhost:41234/callback"},
                "j": {"redirect_uri": "http://127.0.0.1:1/callback"},
            },
        });
        assert_eq!(registered_port(&other, "s"), None);
        assert_eq!(registered_port(&json!({"version": 2}), "s"), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_state_directory_others_could_tamper_with_is_refused() {
        // Security review finding 7: the directory's mode was not checked
        // and the state file and lock followed symbolic links.
        use std::os::unix::fs::{symlink, PermissionsExt as _};
        let base = std::env::temp_dir().join(format!(
            "mcp-oauth-state-trust-{}-{}",
            std::process::id(),
            unix_now()
        ));
        let good = StateFile::new(base.join("good"));
        good.lock()
            .unwrap()
            .write(&json!({"version": 2, "tokens": []}))
            .unwrap();
        assert!(good.read().unwrap().is_some());

        // Writable by others.
        fs::set_permissions(good.dir(), fs::Permissions::from_mode(0o777)).unwrap();
        let e = good.read().unwrap_err().to_string();
        assert!(e.contains("can be written by other users"), "{e}");
        assert!(good.lock().is_err());
        fs::set_permissions(good.dir(), fs::Permissions::from_mode(0o700)).unwrap();

        // The directory is a symbolic link.
        let link = base.join("link");
        symlink(good.dir(), &link).unwrap();
        let e = StateFile::new(&link).read().unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");

        // The state file is a symbolic link (to a file elsewhere).
        let elsewhere = base.join("elsewhere.json");
        fs::write(&elsewhere, br#"{"version":2}"#).unwrap();
        let linked = StateFile::new(base.join("linked"));
        fs::create_dir(linked.dir()).unwrap();
        fs::set_permissions(linked.dir(), fs::Permissions::from_mode(0o700)).unwrap();
        symlink(&elsewhere, linked.path()).unwrap();
        let e = linked.read().unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        // And the lock file.
        fs::remove_file(linked.path()).unwrap();
        symlink(&elsewhere, linked.lock_path()).unwrap();
        let e = linked.lock().unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let _ = fs::remove_dir_all(&base);
    }

    #[test]
    fn files_are_written_atomically_with_mode_0600_under_the_lock() {
        let dir = std::env::temp_dir().join(format!(
            "mcp-oauth-state-unit-{}-{}",
            std::process::id(),
            unix_now()
        ));
        let file = StateFile::new(dir.join("nested"));
        assert!(file.read().unwrap().is_none());
        let lock = file.lock().unwrap();
        // The lock is exclusive, also within a process (flock).
        assert!(file.try_lock().unwrap().is_none());
        lock.write(&json!({"version": 2, "tokens": []})).unwrap();
        drop(lock);
        assert!(file.try_lock().unwrap().is_some());
        let doc = file.read().unwrap().unwrap();
        assert_eq!(doc.json["version"], 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&file.path()), 0o600);
            assert_eq!(mode(&file.lock_path()), 0o600);
            assert_eq!(mode(file.dir()), 0o700);
        }
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(file.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        fs::write(file.path(), b"{not json").unwrap();
        let e = file.read().unwrap_err().to_string();
        assert!(
            e.contains(&file.path().display().to_string()) && e.contains("left as it is"),
            "{e}"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
