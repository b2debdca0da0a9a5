//! How the domain's id types go into and come out of SQLite: as the integers they wrap.

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::domain::{
    AttachmentId, ConversationId, EventId, InviteId, MessageId, SessionId, UserId,
};

macro_rules! sql_id {
    ($($name:ident),*) => {$(
        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.0))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                i64::column_result(value).map($name)
            }
        }
    )*};
}

sql_id!(
    UserId,
    SessionId,
    ConversationId,
    MessageId,
    EventId,
    InviteId,
    AttachmentId
);
