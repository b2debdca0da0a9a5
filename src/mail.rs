//! Sends mail by running the operator's command (`sh -c`, like `sendmail -t`) with an
//! RFC 5322 message on its standard input. With no command configured, the reset link goes to
//! the server log instead, so the operator can pass it on by hand. A failing command is logged
//! without the link, and never reported to the client.

use std::io::Write;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::domain::{Timestamp, UserId};

/// A mail command that has not finished by then is killed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Mailer {
    command: Option<String>,
    public_url: String,
}

impl Mailer {
    pub fn new(command: Option<String>, public_url: String) -> Mailer {
        Mailer {
            command,
            public_url,
        }
    }

    pub fn send_reset_link(&self, user_id: UserId, to: &str, token: &str, valid_minutes: u32) {
        let link = format!("{}/reset-password?token={token}", self.public_url);
        let Some(command) = &self.command else {
            log::warn!(
                "no mail command configured; password reset link for user {user_id}: {link}"
            );
            return;
        };
        let message = reset_message(&self.public_url, to, &link, valid_minutes, Timestamp::now());
        match run(command, &message) {
            Ok(()) => log::info!("reset mail for user {user_id} handed to the mail command"),
            Err(why) => log::error!("reset mail for user {user_id} failed: {why}"),
        }
    }
}

/// The reset mail. Addresses were validated to hold no whitespace, so no header can be
/// smuggled in through them.
fn reset_message(public_url: &str, to: &str, link: &str, minutes: u32, now: Timestamp) -> String {
    let host = public_url
        .split("://")
        .nth(1)
        .unwrap_or(public_url)
        .split(['/', ':'])
        .next()
        .unwrap_or("localhost");
    format!(
        "From: EmoteChat <noreply@{host}>\r\n\
         To: <{to}>\r\n\
         Subject: Reset your EmoteChat password\r\n\
         Date: {date}\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Someone asked to reset the password of your EmoteChat account.\r\n\
         To choose a new password, open this link within {minutes} minutes:\r\n\
         \r\n\
         {link}\r\n\
         \r\n\
         If it was not you, ignore this mail: your password stays as it is.\r\n",
        date = now.to_rfc5322()
    )
}

fn run(command: &str, message: &str) -> Result<(), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the mail command: {e}"))?;
    // A command that exits without reading its input breaks the pipe. Its exit status says
    // more than the write error does, and the child must be waited for either way, so the
    // write error is kept until the command has finished.
    let written = match child.stdin.take() {
        Some(mut stdin) => stdin.write_all(message.as_bytes()),
        None => Ok(()),
    };
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if !status.success() => {
                return Err(format!("the mail command exited with {status}"));
            }
            Ok(Some(_)) => {
                return written.map_err(|e| format!("cannot write to the mail command: {e}"));
            }
            Ok(None) if Instant::now() >= deadline => {
                // Best effort: the process may have exited in between.
                let _ = child.kill();
                let _ = child.wait();
                return Err("the mail command timed out and was killed".into());
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("cannot wait for the mail command: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_messages_carry_the_rfc5322_headers_and_the_link() {
        let message = reset_message(
            "https://chat.example.org",
            "ada@example.org",
            "https://chat.example.org/reset-password?token=abc",
            15,
            Timestamp(0),
        );
        let (head, body) = message.split_once("\r\n\r\n").expect("blank line");
        assert!(head.contains("From: EmoteChat <noreply@chat.example.org>"));
        assert!(head.contains("To: <ada@example.org>"));
        assert!(head.contains("Subject: "));
        assert!(head.contains("Date: Thu, 01 Jan 1970 00:00:00 +0000"));
        assert!(body.contains("https://chat.example.org/reset-password?token=abc"));
        assert!(body.contains("15 minutes"));
    }

    #[test]
    fn failing_commands_are_reported_to_the_caller() {
        assert!(run("cat > /dev/null", "hello").is_ok());
        assert!(run("exit 3", "hello").expect_err("fails").contains("exit"));
    }
}
