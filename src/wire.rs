//! What crosses HTTP: the response bodies of the contract, built from domain values.
//! Row and domain types never reach a client directly, so a new column cannot leak.

use serde::Serialize;

use crate::domain::{PageRequest, Session, SessionId, Timestamp, User, UserId};

/// A user as they see themselves.
#[derive(Serialize)]
pub struct UserSelf {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub created_at: Timestamp,
}

impl From<User> for UserSelf {
    fn from(user: User) -> UserSelf {
        UserSelf {
            id: user.id,
            name: user.name,
            email: user.email,
            created_at: user.created_at,
        }
    }
}

/// A user as others see them: never their email.
#[derive(Serialize)]
pub struct UserPublic {
    pub id: UserId,
    pub name: String,
    pub created_at: Timestamp,
}

impl From<User> for UserPublic {
    fn from(user: User) -> UserPublic {
        UserPublic {
            id: user.id,
            name: user.name,
            created_at: user.created_at,
        }
    }
}

#[derive(Serialize)]
pub struct Pagination {
    pub page: u32,
    pub page_size: u32,
    pub total_items: i64,
    pub total_pages: i64,
}

impl Pagination {
    pub fn new(request: PageRequest, total_items: i64) -> Pagination {
        Pagination {
            page: request.page,
            page_size: request.page_size,
            total_items,
            total_pages: request.total_pages(total_items),
        }
    }
}

/// `{"message": ...}` alone.
#[derive(Serialize)]
pub struct Message {
    pub message: &'static str,
}

#[derive(Serialize)]
pub struct Registered {
    pub message: &'static str,
    pub user: UserSelf,
}

#[derive(Serialize)]
pub struct LoggedIn {
    pub message: &'static str,
    pub token: String,
    pub token_type: &'static str,
    pub expires_at: Timestamp,
    pub user: UserSelf,
}

#[derive(Serialize)]
pub struct TokenValid {
    pub message: &'static str,
    pub user: UserSelf,
    pub expires_at: Timestamp,
}

#[derive(Serialize)]
pub struct SessionInfo {
    pub id: SessionId,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
    pub expires_at: Timestamp,
    pub user_agent: Option<String>,
    pub current: bool,
}

impl SessionInfo {
    pub fn new(session: Session, current: SessionId) -> SessionInfo {
        SessionInfo {
            current: session.id == current,
            id: session.id,
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            expires_at: session.expires_at,
            user_agent: session.user_agent,
        }
    }
}

#[derive(Serialize)]
pub struct Sessions {
    pub sessions: Vec<SessionInfo>,
}

#[derive(Serialize)]
pub struct OneUserSelf {
    pub user: UserSelf,
}

#[derive(Serialize)]
pub struct OneUserPublic {
    pub user: UserPublic,
}

#[derive(Serialize)]
pub struct UserPage {
    pub users: Vec<UserPublic>,
    pub pagination: Pagination,
}

#[derive(Serialize)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
}
