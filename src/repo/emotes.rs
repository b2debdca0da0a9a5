//! The `emotes` table: custom emote images, stored in the database so that the one file
//! holds everything and a backup copies them too.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{RepoError, RepoResult, Tx};
use crate::domain::{Emote, EmoteName, ImageType, PageRequest, Timestamp, UserId, UserRef};

const EMOTE_COLUMNS: &str =
    "e.name, e.content_type, length(e.image), e.created_by, u.name, e.created_at";

fn emote_from_row(row: &Row) -> rusqlite::Result<Emote> {
    Ok(Emote {
        name: row.get(0)?,
        content_type: row.get(1)?,
        size: row.get(2)?,
        created_by: UserRef {
            id: row.get(3)?,
            name: row.get(4)?,
        },
        created_at: Timestamp(row.get(5)?),
    })
}

/// An emote's image: its content type, bytes and ETag digest.
pub struct Image {
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub digest: String,
}

/// Stores an emote; `Conflict` if the name is taken.
pub fn insert(
    tx: &Tx,
    name: &EmoteName,
    image_type: ImageType,
    bytes: &[u8],
    digest: &str,
    created_by: UserId,
    now: Timestamp,
) -> RepoResult<Emote> {
    tx.execute(
        "INSERT INTO emotes (name, content_type, image, digest, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            name.as_str(),
            image_type.content_type(),
            bytes,
            digest,
            created_by,
            now.0
        ],
    )?;
    get(tx, name)
}

pub fn get(conn: &Connection, name: &EmoteName) -> RepoResult<Emote> {
    let sql = format!(
        "SELECT {EMOTE_COLUMNS} FROM emotes e JOIN users u ON u.id = e.created_by
         WHERE e.name = ?1"
    );
    Ok(conn.query_row(&sql, [name.as_str()], emote_from_row)?)
}

pub fn exists(conn: &Connection, name: &EmoteName) -> RepoResult<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM emotes WHERE name = ?1",
            [name.as_str()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

pub fn image(conn: &Connection, name: &EmoteName) -> RepoResult<Image> {
    let mut stmt =
        conn.prepare_cached("SELECT content_type, image, digest FROM emotes WHERE name = ?1")?;
    Ok(stmt.query_row([name.as_str()], |row| {
        Ok(Image {
            content_type: row.get(0)?,
            bytes: row.get(1)?,
            digest: row.get(2)?,
        })
    })?)
}

/// One page of emotes by name, and how many there are.
pub fn page(conn: &Connection, page: PageRequest) -> RepoResult<(Vec<Emote>, i64)> {
    let total = conn.query_row("SELECT count(*) FROM emotes", [], |row| row.get(0))?;
    let sql = format!(
        "SELECT {EMOTE_COLUMNS} FROM emotes e JOIN users u ON u.id = e.created_by
         ORDER BY e.name LIMIT ?1 OFFSET ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let emotes = stmt
        .query_map(params![page.page_size, page.offset()], emote_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((emotes, total))
}

/// What a user's emotes take up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub count: u64,
    /// Image bytes in all.
    pub bytes: u64,
}

/// How many emotes the user has uploaded, and their bytes. (`length` of a blob is read from
/// the row header: the images themselves are not loaded.)
pub fn usage_of(conn: &Connection, user_id: UserId) -> RepoResult<Usage> {
    Ok(conn.query_row(
        "SELECT count(*), coalesce(sum(length(image)), 0) FROM emotes WHERE created_by = ?1",
        [user_id],
        |row| {
            Ok(Usage {
                count: row.get::<_, i64>(0)?.unsigned_abs(),
                bytes: row.get::<_, i64>(1)?.unsigned_abs(),
            })
        },
    )?)
}

/// Who uploaded the emote.
pub fn creator(conn: &Connection, name: &EmoteName) -> RepoResult<UserId> {
    Ok(conn.query_row(
        "SELECT created_by FROM emotes WHERE name = ?1",
        [name.as_str()],
        |row| row.get(0),
    )?)
}

pub fn delete(tx: &Tx, name: &EmoteName) -> RepoResult<()> {
    let deleted = tx.execute("DELETE FROM emotes WHERE name = ?1", [name.as_str()])?;
    if deleted == 0 {
        return Err(RepoError::NotFound);
    }
    Ok(())
}
