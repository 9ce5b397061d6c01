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
//! - Concurrent writers: a process writes back its changes with the
//!   component's three-way merge (`import-state` with a base) against what it last read,
//!   entry by entry (a client per issuer, a token per resource and issuer, a
//!   binding per server, metadata per issuer): entries it did not change
//!   keep what another process wrote since; for an entry both changed, the
//!   last writer wins.
//! - A file that cannot be read, is not a state document, or has a newer
//!   format version than the component reads is refused (the component says
//!   why) with an error naming it, and is never overwritten.
//!
//! The document is the component's: this module moves its bytes and never
//! reads them; what it holds comes from `summary`, and `forget` edits it.

use crate::harness::{AuthError, Instance, StateSummary, TokenInfo, TokenState};
use anyhow::{anyhow, bail, Context as _};
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

/// A state document read from the file, as stored (the component checks
/// it when it imports it).
#[derive(Debug, Clone)]
pub struct Document {
    /// The bytes as stored.
    pub bytes: Vec<u8>,
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
        Ok(Some(Document { bytes }))
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

    /// Replaces the state file with `bytes`: a temporary file in the same
    /// directory with mode 0600, synced, renamed over the state file, then
    /// the directory synced.
    pub fn write(&self, bytes: &[u8]) -> anyhow::Result<()> {
        let path = self.state.path();
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
            file.write_all(bytes)?;
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
    base: Vec<u8>,
}

/// Why the component refused a state document (`invalid-argument` says;
/// no other case is expected from `import-state`).
fn refusal(e: &AuthError) -> String {
    match e {
        AuthError::InvalidArgument(reason) => reason.clone(),
        other => format!("{other:?}"),
    }
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
        let base = instance.export_state().await?;
        Ok(Persistence { file, base })
    }

    /// The state file.
    pub fn file(&self) -> &StateFile {
        &self.file
    }

    /// With the lock held: merges the file's newest state into this
    /// instance's (the component's three-way merge) and writes the result when
    /// it differs from the file's.
    async fn sync_locked(
        &mut self,
        lock: &StateLock,
        instance: &mut Instance,
    ) -> anyhow::Result<()> {
        let disk = lock.read()?;
        if let Some(doc) = &disk {
            instance
                .merge_state(&self.base, &doc.bytes)
                .await?
                .map_err(|e| unusable(&self.file.path(), &refusal(&e)))?;
        }
        let merged = instance.export_state().await?;
        if disk.as_ref().map(|d| &d.bytes) != Some(&merged) {
            lock.write(&merged)?;
        }
        self.base = merged;
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
        if instance.export_state().await? == self.base {
            return Ok(());
        }
        let lock = self.file.lock_async(waiting).await?;
        self.sync_locked(&lock, instance).await
    }

    /// Takes the lock and brings the file's newest state into `instance`:
    /// what a process does before something only one process should do at
    /// a time — an authorization, whose registration and consent the others
    /// then reuse. Hand the lock back with [`Persistence::release`]; while
    /// it is held, save with [`Persistence::save_held`].
    pub async fn acquire(
        &mut self,
        instance: &mut Instance,
        waiting: impl FnOnce(),
    ) -> anyhow::Result<StateLock> {
        let lock = self.file.lock_async(waiting).await?;
        self.sync_locked(&lock, instance).await?;
        Ok(lock)
    }

    /// With the lock of [`Persistence::acquire`] held: writes what changed.
    pub async fn save_held(
        &mut self,
        lock: &StateLock,
        instance: &mut Instance,
    ) -> anyhow::Result<()> {
        self.sync_locked(lock, instance).await
    }

    /// Writes what changed and releases the lock of
    /// [`Persistence::acquire`].
    pub async fn release(
        &mut self,
        lock: StateLock,
        instance: &mut Instance,
    ) -> anyhow::Result<()> {
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
pub fn registered_port(summary: &StateSummary, server_url: &str) -> Option<u16> {
    // The component keys a server by its URL without the fragment, scheme
    // and host lowercased; compared as URLs, `HTTPS://Host/mcp#x` finds the
    // binding of `https://host/mcp`.
    let same = |stored: &str| match (url::Url::parse(stored), url::Url::parse(server_url)) {
        (Ok(mut a), Ok(mut b)) => {
            a.set_fragment(None);
            b.set_fragment(None);
            a == b
        }
        _ => stored == server_url,
    };
    let bound = summary.servers.iter().find(|s| same(&s.server));
    match bound {
        Some(b) => summary
            .clients
            .iter()
            .find(|c| c.issuer == b.issuer)
            .and_then(|c| callback_port(&c.redirect_uri)),
        None => summary
            .clients
            .iter()
            .find_map(|c| callback_port(&c.redirect_uri)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_registered_loopback_port_is_found() {
        use crate::harness::{ClientEntry, ServerEntry};
        let client = |issuer: &str, redirect_uri: &str| ClientEntry {
            issuer: issuer.into(),
            client_id: "c".into(),
            auth_method: "none".into(),
            has_secret: false,
            redirect_uri: redirect_uri.into(),
            secret_expires_at: None,
        };
        let server = |server: &str, issuer: &str| ServerEntry {
            server: server.into(),
            resource: "r".into(),
            issuer: issuer.into(),
        };
        let summary = StateSummary {
            servers: vec![
                server("http://127.0.0.1:5000/mcp", "i"),
                server("https://mcp.example.com/mcp", "j"),
                server("s", "k"),
            ],
            tokens: vec![],
            clients: vec![
                client("k", "http://localhost:41234/callback"),
                client("i", "http://127.0.0.1:41234/callback"),
                client("j", "http://127.0.0.1:2222/callback"),
            ],
            metadata: vec![],
            has_dpop_key: false,
        };
        for (url, port) in [
            ("http://127.0.0.1:5000/mcp#x", Some(41234)),
            // The URL as the user typed it finds the binding the component keyed.
            ("HTTPS://MCP.Example.com/mcp", Some(2222)),
            // The bound issuer's registration redirects to localhost, not
            // 127.0.0.1: no port (another issuer's is not taken instead).
            ("s", None),
            // A server not seen yet: the first registration with a port.
            ("http://127.0.0.1:5001/mcp", Some(41234)),
        ] {
            assert_eq!(registered_port(&summary, url), port, "{url}");
        }
        let empty = StateSummary {
            servers: vec![],
            clients: vec![],
            ..summary
        };
        assert_eq!(registered_port(&empty, "s"), None);
    }

    /// A path of its own under the system's temporary directory (not
    /// created).
    fn scratch_dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "mcp-oauth-state-{name}-{}-{}",
            std::process::id(),
            unix_now()
        ))
    }

    #[test]
    fn a_state_directory_others_could_tamper_with_is_refused() {
        // Security review finding 7: the directory's mode was not checked
        // and the state file and lock followed symbolic links.
        use std::os::unix::fs::{symlink, PermissionsExt as _};
        let base = scratch_dir("trust");
        let good = StateFile::new(base.join("good"));
        good.lock()
            .unwrap()
            .write(br#"{"version":2,"tokens":[]}"#)
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
        let dir = scratch_dir("unit");
        let file = StateFile::new(dir.join("nested"));
        assert!(file.read().unwrap().is_none());
        let lock = file.lock().unwrap();
        // The lock is exclusive, also within a process (flock).
        assert!(file.try_lock().unwrap().is_none());
        lock.write(br#"{"version":2,"tokens":[]}"#).unwrap();
        drop(lock);
        assert!(file.try_lock().unwrap().is_some());
        let doc = file.read().unwrap().unwrap();
        assert_eq!(doc.bytes, br#"{"version":2,"tokens":[]}"#);
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
        let _ = fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_file_the_component_refuses_is_named_and_left_as_it_is() {
        use crate::harness::{ClientConfig, HostOptions, Runtime};
        let dir = scratch_dir("refused");
        let file = StateFile::new(&dir);
        let config = ClientConfig::new("t", "http://127.0.0.1:1/cb");
        let mut instance = Runtime::embedded_instance(HostOptions::default(), &config)
            .await
            .unwrap();
        for (bytes, reason) in [
            (&b"{not json"[..], "not a valid state document"),
            (br#"{"version":3}"#, "state version 3 is not supported"),
        ] {
            file.lock().unwrap().write(bytes).unwrap();
            let doc = file.read().unwrap().unwrap();
            let e = Persistence::attach(file.clone(), Some(&doc), &mut instance)
                .await
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&file.path().display().to_string())
                    && e.contains(reason)
                    && e.contains("left as it is"),
                "{e}"
            );
            assert_eq!(fs::read(file.path()).unwrap(), bytes, "never overwritten");
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
