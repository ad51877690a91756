//! An email as the MIME message every mail transport sends: SMTP from serve, SES's raw
//! content on AWS. One builder, so both send the same bytes but for the transport's own
//! headers.
//!
//! The message is multipart/alternative: the plain-text part first, the HTML part last (a
//! reader shows the last one it can). Both parts are base64: the words are users' (any
//! script, any line length), and base64 carries anything through any server without asking
//! for 8BITMIME. `Message-ID` is the notification's id, the same on every attempt.

use lettre::Message;
/// An email address with an optional name, as a sender is given.
pub use lettre::message::Mailbox;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{MultiPart, SinglePart};

use super::deliver::OutgoingEmail;
use crate::webhooks::dispatch::SendError;

/// A sender's address (`Name <addr>` or `addr`), read once where the sender is built.
pub fn parse_from(from: &str) -> Result<Mailbox, String> {
    from.parse().map_err(|e| format!("{from:?} is not an email address: {e}"))
}

/// The message of `email` from `from`. An address no message can be sent to is refused for
/// good (no retry can mend it).
pub fn message(from: &Mailbox, email: &OutgoingEmail) -> Result<Message, SendError> {
    let to: Mailbox =
        email.to.parse().map_err(|e| SendError::Refused(format!("{:?} is not an email address: {e}", email.to)))?;
    let part = |kind: ContentType, body: &str| {
        SinglePart::builder().header(kind).header(ContentTransferEncoding::Base64).body(body.to_owned())
    };
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.email.subject.clone())
        .message_id(Some(email.message_id()))
        .multipart(
            MultiPart::alternative()
                .singlepart(part(ContentType::TEXT_PLAIN, &email.email.text))
                .singlepart(part(ContentType::TEXT_HTML, &email.email.html)),
        )
        .map_err(|e| SendError::Refused(format!("the message could not be built: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::Email;
    use uuid::Uuid;

    fn outgoing(to: &str) -> OutgoingEmail {
        OutgoingEmail {
            id: Uuid::from_u128(5),
            to: to.into(),
            email: Email { subject: "[taskstream] hi".into(), text: "plain".into(), html: "<p>html</p>".into() },
        }
    }

    #[test]
    fn the_message_has_both_parts_in_base64_and_the_notification_id() {
        let from = parse_from("taskstream <robot@example.com>").unwrap();
        let raw = String::from_utf8(message(&from, &outgoing("li@example.com")).unwrap().formatted()).unwrap();
        assert!(raw.contains("Message-ID: <00000000-0000-0000-0000-000000000005@taskstream>\r\n"), "{raw}");
        assert!(raw.contains("Subject: [taskstream] hi\r\n"), "{raw}");
        assert!(raw.contains("Content-Type: multipart/alternative;"), "{raw}");
        let plain = raw.find("Content-Type: text/plain").unwrap();
        let html = raw.find("Content-Type: text/html").unwrap();
        assert!(plain < html, "plain text first, HTML last: {raw}");
        assert_eq!(raw.matches("Content-Transfer-Encoding: base64").count(), 2, "{raw}");
        assert!(raw.contains("cGxhaW4="), "the plain part, base64: {raw}");
    }

    #[test]
    fn bad_addresses_are_refused() {
        assert!(parse_from("not an address").is_err());
        let from = parse_from("robot@example.com").unwrap();
        assert!(matches!(message(&from, &outgoing("li at example")), Err(SendError::Refused(_))));
    }
}
