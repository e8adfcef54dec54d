//! Emails of the embedded mode: RFC 5322 messages (multipart/alternative, text and HTML) written
//! as `.eml` files to `DIR/outbox/`, one file per message, atomically.

use async_trait::async_trait;
use lettre::Message;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use optout_core::ports::{Clock, Mail, MailError, Mailer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The embedded [`Mailer`].
#[derive(Clone)]
pub struct OutboxMailer {
    dir: PathBuf,
    from: Mailbox,
    clock: Arc<dyn Clock>,
}

impl OutboxMailer {
    /// `from` is an address, optionally with a name (`optout <desk@example.org>`).
    pub fn new(dir: &Path, from: &str, clock: Arc<dyn Clock>) -> Result<Self, MailError> {
        std::fs::create_dir_all(dir).map_err(|e| MailError::Unavailable(format!("outbox: {e}")))?;
        let from = from
            .parse()
            .map_err(|e| MailError::Refused(format!("sender address: {e}")))?;
        Ok(OutboxMailer {
            dir: dir.to_owned(),
            from,
            clock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Builds the RFC 5322 message of a mail.
pub fn build_message(
    from: &Mailbox,
    mail: &Mail,
    date: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<u8>, MailError> {
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|e| MailError::Refused(format!("recipient: {e}")))?;
    let msg = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .date(date.into())
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(mail.text.clone()))
                .singlepart(SinglePart::html(mail.html.clone())),
        )
        .map_err(|e| MailError::Refused(e.to_string()))?;
    Ok(msg.formatted())
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let now = self.clock.now();
        let bytes = build_message(&self.from, mail, now)?;
        let name = format!(
            "{}-{}-{}.eml",
            now.format("%Y%m%dT%H%M%S%.6fZ"),
            mail.about(),
            mail.tag
        );
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let unavailable = |e: std::io::Error| MailError::Unavailable(format!("outbox: {e}"));
        tokio::fs::write(&tmp, &bytes).await.map_err(unavailable)?;
        tokio::fs::rename(&tmp, &path).await.map_err(unavailable)?;
        tracing::info!(case = %mail.about(), tag = %mail.tag, "email written to the outbox");
        Ok(())
    }
}
