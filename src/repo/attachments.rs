//! The `attachments` and `attachment_chunks` tables: pictures and files sent with messages.
//! An upload is reserved as a row first (counted against the uploader's quota at its declared
//! size), its bytes are added piece by piece, and it is completed with its stored size and
//! digest; only then can it be sent with a message, and it is served only once sent (or to
//! its uploader).

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{RepoError, RepoResult, Tx, id_array};
use crate::domain::{
    Attachment, AttachmentId, ConversationId, MessageId, Timestamp, UserId, media::Size,
};

/// What a reservation records about an upload before its bytes arrive.
pub struct Upload<'a> {
    pub conversation_id: ConversationId,
    pub uploader_id: UserId,
    pub name: &'a str,
    pub content_type: &'static str,
    pub declared_size: u64,
}

/// A new, incomplete upload; its chunks follow with `add_chunk`.
pub fn reserve(tx: &Tx, upload: &Upload, now: Timestamp) -> RepoResult<AttachmentId> {
    Ok(tx.query_row(
        "INSERT INTO attachments (conversation_id, uploader_id, name, content_type, size,
             created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        params![
            upload.conversation_id,
            upload.uploader_id,
            upload.name,
            upload.content_type,
            i64::try_from(upload.declared_size).unwrap_or(i64::MAX),
            now.0
        ],
        |row| row.get(0),
    )?)
}

/// The bytes a user's attachments take (uploads in flight at their declared size).
pub fn usage_of(conn: &Connection, user_id: UserId) -> RepoResult<u64> {
    let bytes: i64 = conn.query_row(
        "SELECT coalesce(sum(size), 0) FROM attachments WHERE uploader_id = ?1",
        [user_id],
        |row| row.get(0),
    )?;
    Ok(bytes.unsigned_abs())
}

/// Adds a piece of an upload's bytes. `NotFound` if the upload is gone (pruned, or its
/// conversation deleted) while its bytes were arriving.
pub fn add_chunk(tx: &Tx, id: AttachmentId, seq: u32, data: &[u8]) -> RepoResult<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO attachment_chunks (attachment_id, seq, data)
         SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM attachments WHERE id = ?1)",
    )?;
    if stmt.execute(params![id, seq, data])? == 0 {
        return Err(RepoError::NotFound);
    }
    Ok(())
}

/// Marks an upload complete: its stored size, digest and (pictures) pixel size. `NotFound`
/// if it was pruned meanwhile.
pub fn complete(
    tx: &Tx,
    id: AttachmentId,
    size: u64,
    digest: &str,
    pixels: Option<Size>,
) -> RepoResult<Attachment> {
    let changed = tx.execute(
        "UPDATE attachments SET size = ?2, digest = ?3, width = ?4, height = ?5 WHERE id = ?1",
        params![
            id,
            i64::try_from(size).unwrap_or(i64::MAX),
            digest,
            pixels.map(|p| p.0),
            pixels.map(|p| p.1)
        ],
    )?;
    if changed == 0 {
        return Err(RepoError::NotFound);
    }
    Ok(tx.query_row(
        &format!("SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = ?1"),
        [id],
        attachment_from_row,
    )?)
}

/// Removes an upload and its bytes (one that failed half-way).
pub fn remove(tx: &Tx, id: AttachmentId) -> RepoResult<()> {
    tx.execute("DELETE FROM attachments WHERE id = ?1", [id])?;
    Ok(())
}

/// Which unsent uploads are past their time. A complete one made at or before `complete`; one
/// still incomplete only when made at or before `incomplete` (no later than `complete`), a
/// cutoff far enough back that its body can no longer be arriving: so an upload in progress is
/// never deleted under its feet, and one abandoned half-way (its request's thread gone) still
/// is.
#[derive(Clone, Copy)]
pub struct Stale {
    pub complete: Timestamp,
    pub incomplete: Timestamp,
}

/// Deletes up to `limit` uploads never sent with a message and past their time; how many.
pub fn delete_unattached(tx: &Tx, stale: Stale, limit: u32) -> RepoResult<usize> {
    Ok(tx.execute(
        "DELETE FROM attachments WHERE id IN (
             SELECT id FROM attachments
             WHERE message_id IS NULL AND created_at <= ?1
                 AND (digest IS NOT NULL OR created_at <= ?2)
             LIMIT ?3)",
        params![stale.complete.0, stale.incomplete.0, limit],
    )?)
}

/// Deletes a user's own unsent uploads past their time.
pub fn delete_unattached_of(tx: &Tx, user_id: UserId, stale: Stale) -> RepoResult<usize> {
    Ok(tx.execute(
        "DELETE FROM attachments
         WHERE uploader_id = ?1 AND message_id IS NULL AND created_at <= ?2
             AND (digest IS NOT NULL OR created_at <= ?3)",
        params![user_id, stale.complete.0, stale.incomplete.0],
    )?)
}

/// Sends the uploads `ids` with a message: each must be the sender's, complete, in this
/// conversation and not yet sent. How many were attached (fewer than asked: some were not).
pub fn attach(
    tx: &Tx,
    ids: &[AttachmentId],
    message_id: MessageId,
    conversation_id: ConversationId,
    sender_id: UserId,
) -> RepoResult<usize> {
    Ok(tx.execute(
        "UPDATE attachments SET message_id = ?1
         WHERE id IN rarray(?2) AND conversation_id = ?3 AND uploader_id = ?4
             AND message_id IS NULL AND digest IS NOT NULL",
        params![
            message_id,
            id_array(ids.iter().copied()),
            conversation_id,
            sender_id
        ],
    )?)
}

/// Deletes the attachments of a message (being deleted), bytes and all.
pub fn delete_of_message(tx: &Tx, message_id: MessageId) -> RepoResult<()> {
    tx.execute(
        "DELETE FROM attachments WHERE message_id = ?1",
        [message_id],
    )?;
    Ok(())
}

const ATTACHMENT_COLUMNS: &str =
    "id, conversation_id, name, content_type, size, width, height, message_id";

fn attachment_from_row(row: &Row) -> rusqlite::Result<Attachment> {
    Ok(Attachment {
        id: row.get(0)?,
        conversation_id: row.get(1)?,
        name: row.get(2)?,
        content_type: row.get(3)?,
        size: row.get(4)?,
        width: row.get(5)?,
        height: row.get(6)?,
    })
}

/// The attachments of each of `messages`, in upload order: one query whatever the count.
pub fn of_messages(
    conn: &Connection,
    messages: impl IntoIterator<Item = MessageId>,
) -> RepoResult<HashMap<MessageId, Vec<Attachment>>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM attachments
         WHERE message_id IN rarray(?1) ORDER BY id"
    ))?;
    let mut found: HashMap<MessageId, Vec<Attachment>> = HashMap::new();
    let mut rows = stmt.query([id_array(messages)])?;
    while let Some(row) = rows.next()? {
        let message_id: MessageId = row.get(7)?;
        found
            .entry(message_id)
            .or_default()
            .push(attachment_from_row(row)?);
    }
    Ok(found)
}

/// A stored file as it is served: its description and the digest its ETag is made of.
pub struct Stored {
    pub attachment: Attachment,
    pub digest: String,
}

/// A complete attachment of the conversation that `viewer` may fetch: the viewer's own upload,
/// or one sent with a message the viewer's history shows (not before they joined a group that
/// hides its earlier history, not from a person they block in a direct conversation; see
/// `conversations::hidden_from`). `NotFound` otherwise.
pub fn stored(
    conn: &Connection,
    conversation_id: ConversationId,
    id: AttachmentId,
    viewer: UserId,
) -> RepoResult<Stored> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ATTACHMENT_COLUMNS}, digest FROM attachments
         WHERE id = ?1 AND conversation_id = ?2 AND digest IS NOT NULL
             AND (uploader_id = ?3 OR (
                 message_id > (SELECT history_from FROM members
                               WHERE conversation_id = ?2 AND user_id = ?3)
                 AND NOT EXISTS (
                     SELECT 1 FROM messages m, conversations c, blocks b
                     WHERE m.id = attachments.message_id AND c.id = ?2 AND c.kind = 'direct'
                         AND b.user_id = ?3 AND b.blocked_id = m.sender_id)))"
    ))?;
    Ok(stmt.query_row(params![id, conversation_id, viewer], |row| {
        Ok(Stored {
            attachment: attachment_from_row(row)?,
            digest: row.get(8)?,
        })
    })?)
}

/// One piece of an attachment's bytes; `None` past the last.
pub fn chunk(conn: &Connection, id: AttachmentId, seq: u32) -> RepoResult<Option<Vec<u8>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT data FROM attachment_chunks WHERE attachment_id = ?1 AND seq = ?2",
    )?;
    Ok(stmt
        .query_row(params![id, seq], |row| row.get(0))
        .optional()?)
}
