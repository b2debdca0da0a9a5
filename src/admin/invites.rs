//! `emotechat invite create|list|revoke`. A code is a secret like a session token: 256 random
//! bits, shown once when it is made, stored only as its SHA-256 (see `auth::token`).

use super::{Failed, printable, table};
use crate::auth::token;
use crate::config::Config;
use crate::domain::{Invite, InviteId, Timestamp};
use crate::repo::{self, Pool, invites};

/// How many of a code's characters `invite list` shows: enough to tell codes apart, far too
/// few to guess the rest.
const PREFIX_CHARS: usize = 6;

pub fn create(pool: &Pool, config: &Config, uses: u32, days: u32) -> Result<String, Failed> {
    let issued = issue_code()?;
    let now = Timestamp::now();
    let prefix: String = issued.token.chars().take(PREFIX_CHARS).collect();
    let invite = repo::write(pool, |tx| {
        invites::insert(tx, &issued.digest, &prefix, uses, now, now.plus_days(days))
    })?;
    let base = config.public_url_for(&config.addr);
    Ok(format!(
        "Invite code: {code}\n\
         Link: {base}/register?invite={code}\n\
         Id {id}: {uses} {accounts}, until {expires}. The code is not shown again.\n",
        code = issued.token,
        id = invite.id,
        accounts = if uses == 1 { "account" } else { "accounts" },
        expires = invite.expires_at,
    ))
}

/// A code that `invite revoke CODE` cannot mistake for a flag: base64url starts with `-` one
/// time in 64, so such a code is drawn again (which costs a negligible part of its 256 bits).
fn issue_code() -> Result<token::Issued, Failed> {
    loop {
        let issued = token::issue().map_err(|e| Failed(format!("random source: {e}")))?;
        if !issued.token.starts_with('-') {
            return Ok(issued);
        }
    }
}

pub fn list(pool: &Pool) -> Result<String, Failed> {
    let all = repo::read(pool, invites::list)?;
    if all.is_empty() {
        return Ok("No invite codes.\n".into());
    }
    let now = Timestamp::now();
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|invite| {
            vec![
                invite.id.to_string(),
                format!("{}...", printable(&invite.prefix)),
                format!("{}/{}", invite.uses, invite.max_uses),
                invite.created_at.to_string(),
                invite.expires_at.to_string(),
                state(invite, now).to_owned(),
            ]
        })
        .collect();
    Ok(table(
        &["ID", "CODE", "USED", "CREATED", "EXPIRES", "STATE"],
        &rows,
    ))
}

fn state(invite: &Invite, now: Timestamp) -> &'static str {
    if invite.expires_at <= now {
        "expired"
    } else if invite.uses >= invite.max_uses {
        "used up"
    } else {
        "usable"
    }
}

/// Deletes an invite named by its code or by the id `list` shows.
pub fn revoke(pool: &Pool, which: &str) -> Result<String, Failed> {
    let deleted = match which.parse::<i64>() {
        Ok(id) => repo::write(pool, |tx| invites::delete(tx, InviteId(id)))?,
        Err(_) => {
            let digest = token::digest(which);
            repo::write(pool, |tx| invites::delete_by_hash(tx, &digest))?
        }
    };
    if deleted {
        Ok("Invite revoked.\n".into())
    } else {
        Err(Failed(format!(
            "no invite has the code or id '{}' (see emotechat invite list)",
            printable(which)
        )))
    }
}
