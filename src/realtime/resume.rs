//! Resume points: where a reconnecting stream picks up. Event ids on the stream carry the
//! epoch they were sent in (`<epoch>-<id>`). Each start of the server begins an epoch, and the
//! database remembers from which event id on each one counted; so an id from an epoch this
//! database never had (another database, or a timeline lost by restoring a backup), or
//! naming an event past where its epoch ended (handed out after the backup was taken), is
//! known for what it is and answered with `resync` instead of silence, even once the restored
//! database has handed out that many ids again. Plain numeric ids, as clients from before the
//! epochs send them, are still accepted; for them only "not ahead of the newest event" can be
//! checked.

use crate::domain::EventId;

/// An epoch: random hex chosen when the server started.
pub type Epoch = String;

/// What a client sent as `Last-Event-ID` or `since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumePoint {
    /// `None` for a plain numeric id.
    pub epoch: Option<Epoch>,
    pub id: EventId,
}

/// The longest epoch accepted: longer text is not an id this server could have handed out.
const MAX_EPOCH: usize = 64;

impl ResumePoint {
    /// `<id>` or `<epoch>-<id>`: digits only for the id, lowercase hex for the epoch.
    pub fn parse(text: &str) -> Option<ResumePoint> {
        let (epoch, id) = match text.split_once('-') {
            Some((epoch, id)) if is_epoch(epoch) => (Some(epoch.to_owned()), id),
            Some(_) => return None,
            None => (None, text),
        };
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(ResumePoint {
            epoch,
            id: EventId(id.parse().ok()?),
        })
    }
}

/// The id a stream sends with a stored event: what the client hands back to resume.
pub fn token(epoch: &str, id: EventId) -> String {
    format!("{epoch}-{id}")
}

fn is_epoch(text: &str) -> bool {
    (1..=MAX_EPOCH).contains(&text.len())
        && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_and_epoch_tokens_are_read_back() {
        assert_eq!(
            ResumePoint::parse("42"),
            Some(ResumePoint {
                epoch: None,
                id: EventId(42)
            })
        );
        let point = ResumePoint::parse(&token("9f3a", EventId(7))).expect("a token");
        assert_eq!(point.epoch.as_deref(), Some("9f3a"));
        assert_eq!(point.id, EventId(7));
        assert_eq!(ResumePoint::parse("0").map(|p| p.id), Some(EventId(0)));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "", "-1", "+1", "1.0", "abc", "9F3A-7", "9f3a-", "-7", "9f3a-7-8", "zz-7", "9f3a-+7",
            " 7",
        ] {
            assert_eq!(ResumePoint::parse(bad), None, "{bad:?}");
        }
        assert_eq!(ResumePoint::parse(&format!("{}-1", "a".repeat(65))), None);
        assert_eq!(ResumePoint::parse("99999999999999999999"), None);
    }
}
