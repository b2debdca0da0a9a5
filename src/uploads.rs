//! Storing an attachment as it streams in: the first piece says what the file is (its bytes,
//! never the client's word), the upload is reserved against the uploader's quota, then each
//! piece (JPEGs cleaned of their metadata on the way) is written in a short transaction of its
//! own. Memory stays at one piece whatever the file's size, and no upload holds the write
//! lock while it waits for the network.

use std::io::{self, ErrorKind, Read};

use sha2::{Digest, Sha256};

use crate::config::{Config, Quotas};
use crate::domain::media::{self, JpegScrubber, MediaType};
use crate::domain::{Attachment, AttachmentId, ConversationId, Timestamp, UserId};
use crate::error::{ApiError, Kind};
use crate::repo::attachments::{self, Stale, Upload};
use crate::repo::{self, Pool, RepoError};

/// Bytes read, cleaned and written at a time: the most an upload holds in memory.
pub const CHUNK: usize = 256 * 1024;

/// What an upload is and whom it belongs to, before its bytes are read.
pub struct Incoming<'a> {
    pub conversation_id: ConversationId,
    pub uploader_id: UserId,
    pub name: &'a str,
    /// The `Content-Length`: counted against the quota until the stored size is known.
    pub declared_size: u64,
}

/// How long unsent uploads are kept before they are pruned.
#[derive(Clone, Copy)]
pub struct Keeping {
    /// `--unattached-attachment-secs`: a complete upload waiting to be sent.
    pub unsent_secs: u32,
    /// `--body-timeout`: the longest an upload's body may take to arrive.
    pub body_timeout_secs: u32,
}

impl Keeping {
    pub fn of(config: &Config) -> Keeping {
        Keeping {
            unsent_secs: config.quotas.unattached_attachment_secs,
            body_timeout_secs: config.connections.body_timeout_secs,
        }
    }

    /// The uploads past their time at `now`. A complete one after `unsent_secs`; an
    /// incomplete one after `body_timeout_secs` more. It was reserved after its body began,
    /// and the connection layer gives up on a body `--body-timeout` after it began: an older
    /// incomplete upload is no longer being received (its request failed without cleaning
    /// up), while one in progress is never pruned under its feet.
    pub fn stale(self, now: Timestamp) -> Stale {
        let complete = Timestamp(now.0 - i64::from(self.unsent_secs) * 1000);
        Stale {
            complete,
            incomplete: Timestamp(complete.0 - i64::from(self.body_timeout_secs) * 1000),
        }
    }
}

/// Stores `body` as a new attachment; on any failure nothing of it is left behind.
pub fn store(
    pool: &Pool,
    config: &Config,
    incoming: &Incoming,
    body: &mut impl Read,
) -> Result<Attachment, ApiError> {
    let mut piece = vec![0u8; CHUNK];
    let first = fill(body, &mut piece)?;
    let media = MediaType::sniff(&piece[..first]);
    // PNG, GIF and WebP are stored as sent, with their size near the start.
    let header_size = media::image_size(media, &piece[..first]);
    let id = reserve(pool, config, incoming, media)?;
    let stored = write_pieces(pool, id, media, body, &mut piece, first).and_then(|written| {
        let pixels = written.pixels.or(header_size);
        repo::write(pool, |tx| {
            attachments::complete(tx, id, written.size, &written.digest, pixels)
        })
        .map_err(vanished)
    });
    if stored.is_err()
        && let Err(err) = repo::write(pool, |tx| attachments::remove(tx, id))
    {
        log::error!("removing the failed upload {id} failed: {err}");
    }
    stored
}

/// Reserves the upload at its declared size, in the write that checks the quota, so that
/// parallel uploads cannot overshoot it. The uploader's own uploads that were never sent in
/// time go first, and make room.
fn reserve(
    pool: &Pool,
    config: &Config,
    incoming: &Incoming,
    media: MediaType,
) -> Result<AttachmentId, ApiError> {
    let now = Timestamp::now();
    let stale = Keeping::of(config).stale(now);
    repo::write(pool, |tx| {
        attachments::delete_unattached_of(tx, incoming.uploader_id, stale)?;
        let used = attachments::usage_of(tx, incoming.uploader_id)?;
        within_quota(&config.quotas, used, incoming.declared_size)?;
        let upload = Upload {
            conversation_id: incoming.conversation_id,
            uploader_id: incoming.uploader_id,
            name: incoming.name,
            content_type: media.content_type(),
            declared_size: incoming.declared_size,
        };
        Ok(attachments::reserve(tx, &upload, now)?)
    })
}

/// Whether `size` more bytes fit in the user's attachment quota; `409 quota_exceeded` if not.
fn within_quota(quotas: &Quotas, used: u64, size: u64) -> Result<(), ApiError> {
    let after = used.saturating_add(size);
    if after > quotas.attachment_bytes_per_user {
        return Err(ApiError::quota_exceeded(format!(
            "Your attachments may take {} bytes in all; this one would make {after}",
            quotas.attachment_bytes_per_user
        )));
    }
    Ok(())
}

/// What was stored.
struct Written {
    size: u64,
    digest: String,
    /// A JPEG's size, from its frame header.
    pixels: Option<media::Size>,
}

/// Writes the first piece (already in `piece`, `filled` bytes) and the rest of `body`.
fn write_pieces(
    pool: &Pool,
    id: AttachmentId,
    media: MediaType,
    body: &mut impl Read,
    piece: &mut [u8],
    mut filled: usize,
) -> Result<Written, ApiError> {
    let mut scrubber = (media == MediaType::Jpeg).then(JpegScrubber::new);
    let mut cleaned = Vec::with_capacity(CHUNK + 64);
    let mut hasher = Sha256::new();
    let (mut seq, mut size) = (0u32, 0u64);
    while filled > 0 {
        let stored: &[u8] = match &mut scrubber {
            Some(scrubber) => {
                cleaned.clear();
                scrubber
                    .feed(&piece[..filled], &mut cleaned)
                    .map_err(malformed)?;
                &cleaned
            }
            None => &piece[..filled],
        };
        if !stored.is_empty() {
            hasher.update(stored);
            repo::write(pool, |tx| attachments::add_chunk(tx, id, seq, stored))
                .map_err(vanished)?;
            seq += 1;
            size += stored.len() as u64;
        }
        filled = fill(body, piece)?;
    }
    if let Some(scrubber) = &scrubber {
        scrubber.finish().map_err(malformed)?;
    }
    Ok(Written {
        size,
        digest: hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        pixels: scrubber.and_then(|s| s.size()),
    })
}

/// An upload that was deleted while its bytes arrived: its conversation is gone, or it took so
/// long that it was pruned as abandoned. `404`, as for a conversation the caller is not in.
fn vanished(err: RepoError) -> ApiError {
    match err {
        RepoError::NotFound => ApiError::new(
            Kind::NotFound,
            "The upload was discarded before it was complete",
        ),
        other => other.into(),
    }
}

fn malformed(_: media::Malformed) -> ApiError {
    ApiError::new(
        Kind::ValidationFailed,
        "The file starts like a JPEG but its structure is broken",
    )
}

/// Reads until `buf` is full or the body ends; how many bytes.
fn fill(body: &mut impl Read, buf: &mut [u8]) -> Result<usize, ApiError> {
    let mut filled = 0;
    while filled < buf.len() {
        match body.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(body_failed(&err)),
        }
    }
    Ok(filled)
}

fn body_failed(err: &io::Error) -> ApiError {
    if err.kind() == ErrorKind::TimedOut {
        ApiError::new(Kind::RequestTimeout, "The upload took too long to arrive")
    } else {
        ApiError::new(
            Kind::BadRequest,
            "The upload ended before its Content-Length",
        )
    }
}

/// An attachment's bytes read back piece by piece as the response is written, so serving a
/// large file holds no more than one piece either.
pub struct Pieces {
    pool: Pool,
    id: AttachmentId,
    next: u32,
    current: io::Cursor<Vec<u8>>,
}

impl Pieces {
    pub fn new(pool: Pool, id: AttachmentId) -> Pieces {
        Pieces {
            pool,
            id,
            next: 0,
            current: io::Cursor::new(Vec::new()),
        }
    }
}

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.current.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            let next = repo::read(&self.pool, |conn| {
                attachments::chunk(conn, self.id, self.next)
            })
            .map_err(|err| io::Error::other(err.to_string()))?;
            match next {
                Some(piece) => {
                    self.current = io::Cursor::new(piece);
                    self.next += 1;
                }
                None => return Ok(0),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quotas(bytes: u64) -> Quotas {
        Quotas {
            emotes_per_user: 1,
            emote_bytes_per_user: 1,
            groups_per_user_per_day: 1,
            sessions_per_user: 1,
            attachment_max_bytes: 1,
            attachment_bytes_per_user: bytes,
            unattached_attachment_secs: 0,
        }
    }

    #[test]
    fn the_quota_holds_at_its_size_and_not_one_byte_past() {
        assert!(within_quota(&quotas(100), 60, 40).is_ok());
        let past = within_quota(&quotas(100), 60, 41).expect_err("past the quota");
        assert_eq!(past.kind, Kind::QuotaExceeded);
        assert!(within_quota(&quotas(100), 0, u64::MAX).is_err());
    }

    #[test]
    fn an_incomplete_upload_is_kept_the_body_timeout_longer_than_a_complete_one() {
        let keeping = Keeping {
            unsent_secs: 60,
            body_timeout_secs: 30,
        };
        let stale = keeping.stale(Timestamp(1_000_000));
        assert_eq!(stale.complete, Timestamp(940_000));
        assert_eq!(stale.incomplete, Timestamp(910_000));
    }

    /// Hands out at most three bytes a read, as a slow network would.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(3).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_piece_is_filled_from_small_reads_until_the_body_ends() {
        let mut buf = [0u8; 8];
        let mut body = Trickle(b"abcdefghij");
        assert_eq!(fill(&mut body, &mut buf).ok(), Some(8));
        assert_eq!(&buf, b"abcdefgh");
        assert_eq!(fill(&mut body, &mut buf).ok(), Some(2));
        assert_eq!(fill(&mut body, &mut buf).ok(), Some(0));
    }
}
