//! A short, friendly name for the device behind a session ("Chrome on Linux", "Safari on
//! iPhone"), read from the `User-Agent` it signed in with, so a person can tell their
//! sessions apart without reading a raw agent string.

/// Browsers by a token their agent string carries, most specific first: Edge, Opera and
/// Samsung Internet also say "Chrome", and nearly everything says "Safari".
const BROWSERS: &[(&str, &str)] = &[
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
];

/// Systems by a token their agent string carries, most specific first: iPhones and iPads say
/// "Mac OS X", Android says "Linux", and ChromeOS says "X11".
const SYSTEMS: &[(&str, &str)] = &[
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
];

/// The longest name a program's own agent token (`curl/8.5.0`) is shown with.
const MAX_PROGRAM_CHARS: usize = 40;

/// "BROWSER on SYSTEM", the part that is known, a program's own name (`curl`), or "Unknown
/// device".
pub fn describe_device(user_agent: Option<&str>) -> String {
    let agent = user_agent.unwrap_or_default();
    let browser = first_found(agent, BROWSERS)
        .map(str::to_owned)
        .or_else(|| program(agent));
    match (browser, first_found(agent, SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser,
        (None, Some(system)) => format!("A browser on {system}"),
        (None, None) => "Unknown device".to_owned(),
    }
}

fn first_found(agent: &str, table: &[(&str, &'static str)]) -> Option<&'static str> {
    table
        .iter()
        .find(|(token, _)| agent.contains(token))
        .map(|(_, name)| *name)
}

/// The product name of an agent that is not a browser (`curl/8.5.0` → `curl`).
fn program(agent: &str) -> Option<String> {
    let product = agent.split(['/', ' ']).next()?.trim();
    let plain = product
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    (!product.is_empty() && plain && product != "Mozilla")
        .then(|| product.chars().take(MAX_PROGRAM_CHARS).collect())
}

#[cfg(test)]
mod tests {
    use super::describe_device;

    fn described(agent: &str) -> String {
        describe_device(Some(agent))
    }

    #[test]
    fn common_browsers_are_named_with_their_system() {
        for (agent, expected) in [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/120.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 HeadlessChrome/120.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0",
                "Firefox on Android",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
                "Chrome on iPad",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like \
                 Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like \
                 Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
                "Samsung Internet on Android",
            ),
            (
                "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like \
                 Gecko) Chrome/124.0.0.0 Safari/537.36",
                "Chrome on ChromeOS",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like \
                 Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/110.0.0.0",
                "Opera on Windows",
            ),
        ] {
            assert_eq!(described(agent), expected, "{agent}");
        }
    }

    #[test]
    fn programs_are_named_by_their_product() {
        assert_eq!(described("curl/8.5.0"), "curl");
        assert_eq!(described("ureq/3.5.2"), "ureq");
        assert_eq!(
            described(&format!("{}/1.0", "x".repeat(60))),
            "x".repeat(40)
        );
    }

    #[test]
    fn what_cannot_be_read_falls_back_to_what_is_known() {
        assert_eq!(
            described("Mozilla/5.0 (X11; Linux x86_64) SomethingNew/1.0"),
            "A browser on Linux"
        );
        assert_eq!(described("Mozilla/5.0"), "Unknown device");
        assert_eq!(described("<script>/1"), "Unknown device");
        assert_eq!(described(""), "Unknown device");
        assert_eq!(describe_device(None), "Unknown device");
    }
}
