//! The SESv2 [`Mailer`]: one simple message with a text and an HTML part, UTF-8.

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageTag};
use optout_core::ports::{Mail, MailError, Mailer};

use crate::error::describe;

/// Sends mail through SESv2 from one address, in one configuration set.
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: Client,
    from: String,
    configuration_set: Option<String>,
}

fn content(data: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| MailError::Refused(format!("content not built: {e}")))
}

/// A tag value SES accepts (ASCII letters, digits, `_` and `-`, at most 256).
fn tag_value(v: &str) -> String {
    let t: String = v
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .take(256)
        .collect();
    if t.is_empty() { "mail".to_owned() } else { t }
}

impl SesMailer {
    pub fn new(client: Client, from: &str, configuration_set: Option<&str>) -> Self {
        SesMailer {
            client,
            from: from.to_owned(),
            configuration_set: configuration_set.map(str::to_owned),
        }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let message = Message::builder()
            .subject(content(&mail.subject)?)
            .body(
                Body::builder()
                    .text(content(&mail.text)?)
                    .html(content(&mail.html)?)
                    .build(),
            )
            .build();
        let tag = MessageTag::builder()
            .name("kind")
            .value(tag_value(&mail.tag))
            .build()
            .map_err(|e| MailError::Refused(format!("tag not built: {e}")))?;
        let res = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&mail.to).build())
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .email_tags(tag)
            .send()
            .await;
        match res {
            Ok(out) => {
                tracing::info!(case = %mail.about(), kind = %mail.tag, message = out.message_id().unwrap_or(""), "mail sent");
                Ok(())
            }
            Err(e) => {
                let msg = describe("SendEmail", &e);
                tracing::warn!(case = %mail.about(), kind = %mail.tag, error = %msg, "mail not sent");
                match e.as_service_error() {
                    Some(
                        SendEmailError::BadRequestException(_)
                        | SendEmailError::MessageRejected(_)
                        | SendEmailError::MailFromDomainNotVerifiedException(_)
                        | SendEmailError::NotFoundException(_),
                    ) => Err(MailError::Refused(msg)),
                    _ => Err(MailError::Unavailable(msg)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tag_values() {
        assert_eq!(super::tag_value("receipt"), "receipt");
        assert_eq!(super::tag_value("a b/c"), "abc");
        assert_eq!(super::tag_value("ก"), "mail");
    }
}
