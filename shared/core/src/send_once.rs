//! Sending an email once: every message the desk sends goes through [`Desk::send_once`], which
//! claims the message's key in the [`MailLedger`] before handing it to the [`Mailer`] and marks
//! it sent after. Two requests dispatching the same case at once (a double click), a relay
//! running beside a slow request, a redelivered job: only the holder of the claim sends.

use chrono::Duration;

use crate::desk::Desk;
use crate::ports::{Hold, Mail, MailClaim, MailError};
use crate::signing::random_token;

/// How long a claim holds: longer than any send takes (the SDK gives up well before), short
/// enough that a message whose sender died goes out again within minutes.
pub const CLAIM: Duration = Duration::minutes(2);

impl Desk {
    /// Sends `mail` unless it was sent already. `Ok` means the message has gone out (now or
    /// before); an error means it has not, and the caller tries again later (another sender
    /// holding the claim is reported as [`MailError::Unavailable`]: it may yet fail).
    pub async fn send_once(&self, mail: &Mail) -> Result<(), MailError> {
        let ledger = &self.ports.mail_ledger;
        let holder = random_token();
        let now = self.ports.clock.now();
        let unavailable = |e: crate::ports::StoreError| MailError::Unavailable(e.to_string());
        match ledger
            .claim(&mail.key, Hold::new(&holder, now, now + CLAIM))
            .await
            .map_err(unavailable)?
        {
            MailClaim::Sent => {
                tracing::info!(case = %mail.about(), tag = %mail.tag, "email sent before; not sent again");
                return Ok(());
            }
            MailClaim::InFlight => {
                return Err(MailError::Unavailable(
                    "another sender is sending this email".into(),
                ));
            }
            MailClaim::Claimed => {}
        }
        if let Err(e) = self.ports.mailer.send(mail).await {
            if let Err(r) = ledger.release(&mail.key, &holder).await {
                // The claim ends by itself; the message is retried after it.
                tracing::warn!(case = %mail.about(), tag = %mail.tag, error = %r, "email claim not released");
            }
            return Err(e);
        }
        if let Err(e) = ledger
            .mark_sent(&mail.key, &holder, self.ports.clock.now())
            .await
        {
            // Sent but not recorded: when the claim ends a relay may send it a second time.
            tracing::warn!(case = %mail.about(), tag = %mail.tag, error = %e, "sent email not recorded");
        }
        Ok(())
    }
}
