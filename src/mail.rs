//! Sends mail by running the operator's command (`sh -c`, like `sendmail -t`) with an
//! RFC 5322 message on its standard input. With no command configured, the reset link goes to
//! the server log instead, so the operator can pass it on by hand. A failing command is logged
//! without the link, and never reported to the client.

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::domain::{Email, Parse, Timestamp, UserId};

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
        let link = crate::resets::link(&self.public_url, token);
        let Some(command) = &self.command else {
            log::warn!(
                "no mail command configured; password reset link for user {user_id}: {link}"
            );
            return;
        };
        // Registration refuses such addresses; one stored before that rule gets no mail,
        // since a mail command such as `sendmail -t` could read it as more recipients.
        if !Email::parse(to).is_ok_and(|email| email.is_mailable()) {
            log::error!(
                "reset mail for user {user_id} not sent: the stored address cannot be written \
                 into a mail header safely"
            );
            return;
        }
        let unique = match unique_part() {
            Ok(unique) => unique,
            Err(why) => return log::error!("reset mail for user {user_id} failed: {why}"),
        };
        let mail = ResetMail {
            public_url: &self.public_url,
            to,
            link: &link,
            minutes: valid_minutes,
            now: Timestamp::now(),
            unique: &unique,
        };
        match run(command, &mail.render()) {
            Ok(()) => log::info!("reset mail for user {user_id} handed to the mail command"),
            Err(why) => log::error!("reset mail for user {user_id} failed: {why}"),
        }
    }
}

/// 16 random bytes in hex: the left part of a `Message-ID`, unique without any state.
fn unique_part() -> Result<String, String> {
    let mut bytes = [0_u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("random source: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// What a reset mail says, and to whom.
struct ResetMail<'a> {
    public_url: &'a str,
    /// An address for which `Email::is_mailable` holds: it cannot end the header early.
    to: &'a str,
    link: &'a str,
    minutes: u32,
    now: Timestamp,
    unique: &'a str,
}

impl ResetMail<'_> {
    /// The message with the headers RFC 5322 requires (`From`, `Date`) and the ones mail
    /// systems expect (`To`, `Message-ID`, `Subject`, MIME), lines ending in CRLF.
    fn render(&self) -> String {
        let domain = sender_domain(self.public_url);
        format!(
            "From: EmoteChat <noreply@{domain}>\r\n\
             To: <{to}>\r\n\
             Subject: Reset your EmoteChat password\r\n\
             Date: {date}\r\n\
             Message-ID: <{unique}@{domain}>\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             \r\n\
             Someone asked to reset the password of your EmoteChat account.\r\n\
             To choose a new password, open this link within {minutes} minutes:\r\n\
             \r\n\
             {link}\r\n\
             \r\n\
             If it was not you, ignore this mail: your password stays as it is.\r\n",
            to = self.to,
            date = self.now.to_rfc5322(),
            unique = self.unique,
            minutes = self.minutes,
            link = self.link,
        )
    }
}

/// The domain of the sender address, from the public URL's host: the name itself, or an
/// address literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`) when the host is an IP address.
/// A host that is neither (a Unicode name, an IPv6 zone) gives `localhost`, which is at
/// least well-formed.
fn sender_domain(public_url: &str) -> String {
    let after_scheme = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest);
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host_and_port = authority.rsplit('@').next().unwrap_or_default();
    if let Some(bracketed) = host_and_port.strip_prefix('[') {
        let inside = bracketed.split(']').next().unwrap_or_default();
        return match inside.parse::<Ipv6Addr>() {
            Ok(ip) => format!("[IPv6:{ip}]"),
            Err(_) => "localhost".to_owned(),
        };
    }
    let host = host_and_port.split(':').next().unwrap_or_default();
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return format!("[{ip}]");
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    let is_label = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if host.split('.').all(is_label) {
        host.to_ascii_lowercase()
    } else {
        "localhost".to_owned()
    }
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

    fn mail_from(public_url: &str) -> String {
        ResetMail {
            public_url,
            to: "ada@example.org",
            link: "https://chat.example.org/reset-password?token=abc",
            minutes: 15,
            now: Timestamp(0),
            unique: "0123abcd",
        }
        .render()
    }

    fn headers(message: &str) -> Vec<(String, String)> {
        let (head, _) = message.split_once("\r\n\r\n").expect("blank line");
        head.split("\r\n")
            .map(|line| {
                let (name, value) = line.split_once(": ").expect("name: value");
                (name.to_owned(), value.to_owned())
            })
            .collect()
    }

    fn header(message: &str, name: &str) -> String {
        let found: Vec<String> = headers(message)
            .into_iter()
            .filter(|(n, _)| n == name)
            .map(|(_, value)| value)
            .collect();
        assert_eq!(found.len(), 1, "one {name} in {message}");
        found[0].clone()
    }

    #[test]
    fn reset_messages_carry_the_rfc5322_headers_and_the_link() {
        let message = mail_from("https://chat.example.org");
        let names: Vec<String> = headers(&message).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "From",
                "To",
                "Subject",
                "Date",
                "Message-ID",
                "MIME-Version",
                "Content-Type"
            ]
        );
        assert_eq!(
            header(&message, "From"),
            "EmoteChat <noreply@chat.example.org>"
        );
        assert_eq!(header(&message, "To"), "<ada@example.org>");
        assert_eq!(header(&message, "Date"), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            header(&message, "Message-ID"),
            "<0123abcd@chat.example.org>"
        );
        let (_, body) = message.split_once("\r\n\r\n").expect("blank line");
        assert!(body.contains("https://chat.example.org/reset-password?token=abc"));
        assert!(body.contains("15 minutes"));
        assert!(
            !message.replace("\r\n", "").contains(['\r', '\n']),
            "CRLF only"
        );
    }

    #[test]
    fn the_sender_domain_is_the_public_host_or_an_address_literal() {
        for (url, domain) in [
            ("https://chat.example.org", "chat.example.org"),
            ("https://Chat.Example.ORG./path", "chat.example.org"),
            ("http://chat.example.org:8080/x?y#z", "chat.example.org"),
            ("http://user:pw@chat.example.org:8080", "chat.example.org"),
            ("http://127.0.0.1:8080", "[127.0.0.1]"),
            ("http://192.0.2.1", "[192.0.2.1]"),
            ("http://[::1]:8080", "[IPv6:::1]"),
            ("https://[2001:DB8::1]/chat", "[IPv6:2001:db8::1]"),
            ("http://[fe80::1%25eth0]:80", "localhost"),
            ("https://chät.example", "localhost"),
            ("http://a..b", "localhost"),
        ] {
            assert_eq!(sender_domain(url), domain, "{url}");
            let message = mail_from(url);
            assert_eq!(
                header(&message, "From"),
                format!("EmoteChat <noreply@{domain}>")
            );
            assert_eq!(
                header(&message, "Message-ID"),
                format!("<0123abcd@{domain}>")
            );
        }
    }

    #[test]
    fn message_ids_differ_from_mail_to_mail() {
        let (a, b) = (
            unique_part().expect("random"),
            unique_part().expect("random"),
        );
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn failing_commands_are_reported_to_the_caller() {
        assert!(run("cat > /dev/null", "hello").is_ok());
        assert!(run("exit 3", "hello").expect_err("fails").contains("exit"));
    }
}
