//! Development and test transports: [`FileSender`] and [`MemorySender`]. The real one is
//! [`super::gateway::HttpGateway`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use super::{CodeSender, OutgoingMessage, SendError};

// ---------------------------------------------------------------------------------------------
// FileSender
// ---------------------------------------------------------------------------------------------

/// Development/test transport: writes every message as a JSON file into a folder instead of
/// sending it.
///
/// Each message becomes `<uuid>.json` containing `{"to": "+316…", "channel": "sms", "text": "…"}`.
/// The file is first written under a hidden temporary name (`.<uuid>.json.tmp`) and then renamed,
/// so a reader polling the folder for `*.json` never sees a partially written file. Names carry no
/// ordering: sort by modification time (or match on `to`) to find the newest code for a number.
/// On Unix the files are created with mode `0600`, since they contain codes.
#[derive(Debug, Clone)]
pub struct FileSender {
    dir: PathBuf,
}

impl FileSender {
    /// A sender writing into `dir` (created on first send if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileSender { dir: dir.into() }
    }

    /// The folder messages are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Write one message and return the path of the finished file.
    pub async fn write(&self, message: &OutgoingMessage) -> Result<PathBuf, SendError> {
        tokio::fs::create_dir_all(&self.dir).await?;
        let mut json =
            serde_json::to_vec_pretty(message).map_err(|e| SendError::Internal(format!("serialising message: {e}")))?;
        json.push(b'\n');

        let id = uuid::Uuid::new_v4().simple().to_string();
        let tmp = self.dir.join(format!(".{id}.json.tmp"));
        let path = self.dir.join(format!("{id}.json"));
        if let Err(e) = write_new_file(&tmp, &json).await {
            // Best effort: do not leave half-written temporary files behind.
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e.into());
        }
        if let Err(e) = tokio::fs::rename(&tmp, &path).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e.into());
        }
        tracing::info!(path = %path.display(), channel = %message.channel, "one-time code written to file (file transport)");
        Ok(path)
    }
}

async fn write_new_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).await?;
    file.write_all(contents).await?;
    file.sync_all().await?;
    Ok(())
}

#[async_trait]
impl CodeSender for FileSender {
    async fn send(&self, message: &OutgoingMessage) -> Result<(), SendError> {
        self.write(message).await.map(|_| ())
    }
}

// ---------------------------------------------------------------------------------------------
// MemorySender
// ---------------------------------------------------------------------------------------------

/// Test transport: keeps every message in memory. Clones share the same list, so keep a clone
/// and hand another (as `Arc<dyn CodeSender>`) to the code under test.
#[derive(Debug, Clone, Default)]
pub struct MemorySender {
    messages: Arc<Mutex<Vec<OutgoingMessage>>>,
}

impl MemorySender {
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared list itself.
    pub fn shared(&self) -> Arc<Mutex<Vec<OutgoingMessage>>> {
        Arc::clone(&self.messages)
    }

    /// A copy of all messages sent so far, oldest first.
    pub fn messages(&self) -> Vec<OutgoingMessage> {
        self.lock().clone()
    }

    /// The most recent message, if any.
    pub fn last(&self) -> Option<OutgoingMessage> {
        self.lock().last().cloned()
    }

    /// Remove and return all messages sent so far.
    pub fn take(&self) -> Vec<OutgoingMessage> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, Vec<OutgoingMessage>> {
        // A panic while holding the lock cannot leave a Vec half-updated; keep going.
        self.messages.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl CodeSender for MemorySender {
    async fn send(&self, message: &OutgoingMessage) -> Result<(), SendError> {
        self.lock().push(message.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Channel;
    use super::*;
    use serde_json::{json, Value};

    fn sms(text: &str) -> OutgoingMessage {
        OutgoingMessage { to: "+31612345678".into(), channel: Channel::Sms, text: text.into() }
    }

    const TRICKY: &str = "Zeg \"hoi\" \\ {{to}} {{text}}\nregel 2\t\u{1F600} </Say>&";

    // ---- FileSender / MemorySender ------------------------------------------------------------

    fn scratch_dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("sms-test-{name}-{}", uuid::Uuid::new_v4().simple()))
    }

    #[tokio::test]
    async fn file_sender_writes_parseable_json() {
        let dir = scratch_dir("file").join("nested");
        let sender = FileSender::new(&dir);
        let msg = OutgoingMessage { to: "+31201234567".into(), channel: Channel::Voice, text: TRICKY.into() };
        let path = sender.write(&msg).await.expect("written");
        sender.send(&sms("second")).await.expect("written");

        assert_eq!(path.parent(), Some(dir.as_path()));
        assert_eq!(path.extension().and_then(|e| e.to_str()), Some("json"));
        let parsed: Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("valid JSON");
        assert_eq!(parsed, json!({"to": "+31201234567", "channel": "voice", "text": TRICKY}));
        let back: OutgoingMessage = serde_json::from_value(parsed).expect("round trip");
        assert_eq!(back, msg);

        let names: Vec<String> = std::fs::read_dir(&dir)
            .expect("dir")
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.iter().all(|n| n.ends_with(".json") && !n.starts_with('.')), "no temp files left: {names:?}");

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0, "file must not be group/world readable");
        }
        let _ = std::fs::remove_dir_all(dir.parent().unwrap_or(&dir));
    }

    #[tokio::test]
    async fn file_sender_reports_io_errors() {
        let blocker = scratch_dir("blocker");
        std::fs::write(&blocker, b"not a dir").expect("write");
        let err = FileSender::new(&blocker).send(&sms("Uw code is 123456")).await.expect_err("must fail");
        assert!(matches!(err, SendError::Io(_)), "{err:?}");
        assert!(!err.to_string().contains("123456"));
        let _ = std::fs::remove_file(&blocker);
    }

    #[tokio::test]
    async fn memory_sender_records_messages() {
        let memory = MemorySender::new();
        let sender: Arc<dyn CodeSender> = Arc::new(memory.clone());
        sender.send(&sms("one")).await.expect("ok");
        sender.send(&sms("two")).await.expect("ok");
        assert_eq!(memory.messages().len(), 2);
        assert_eq!(memory.last().map(|m| m.text), Some("two".to_string()));
        assert_eq!(memory.shared().lock().map(|l| l.len()).unwrap_or(0), 2);
        assert_eq!(memory.take().len(), 2);
        assert!(memory.messages().is_empty());
    }
}
