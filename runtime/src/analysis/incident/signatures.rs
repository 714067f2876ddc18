//! Error signatures: log messages with what varies between occurrences (numbers, ids, UUIDs,
//! IP addresses, hex) replaced by placeholders, so that one failure repeated a thousand times
//! is one signature with a count.

/// Signatures are cut to this many characters.
pub const MAX_LEN: usize = 160;

fn is_ipv4(t: &str) -> bool {
    let host = t.split_once(':').map_or(t, |(h, port)| if port.chars().all(|c| c.is_ascii_digit()) { h } else { "" });
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4 && parts.iter().all(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u8>().is_ok())
}

fn is_uuid(t: &str) -> bool {
    let lens: Vec<usize> = t.split('-').map(str::len).collect();
    lens == [8, 4, 4, 4, 12] && t.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

/// `sg-0a1b2c3d`, `i-0123456789abcdef0`, `eni-…`: a lowercase kind, a dash, 8–17 hex digits.
fn is_aws_id(t: &str) -> bool {
    let Some((kind, hex)) = t.split_once('-') else { return false };
    (1..=8).contains(&kind.len())
        && kind.chars().all(|c| c.is_ascii_lowercase())
        && (8..=17).contains(&hex.len())
        && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// `2025-06-12T09:41:07.123Z`, `2025-06-12T09:41:07+09:00`, `2025-06-12`: a date, maybe a time.
fn is_timestamp(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
        && (b.len() == 10 || b[10] == b'T')
}

fn is_hex(t: &str) -> bool {
    t.len() >= 8 && t.chars().all(|c| c.is_ascii_hexdigit()) && t.chars().any(|c| c.is_ascii_digit())
}

fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')
}

/// Writes one word, what varies in it replaced; trailing `.` and `:` are kept as written.
fn push_word(out: &mut String, word: &str) {
    let t = word.trim_end_matches(['.', ':']);
    if is_timestamp(t) {
        out.push_str("<time>");
    } else if is_ipv4(t) {
        out.push_str("<ip>");
    } else if is_uuid(t) {
        out.push_str("<uuid>");
    } else if is_aws_id(t) {
        out.push_str("<id>");
    } else if is_hex(t) {
        out.push_str("<hex>");
    } else {
        let mut in_digits = false;
        for c in t.chars() {
            if c.is_ascii_digit() {
                if !in_digits {
                    out.push_str("<n>");
                }
                in_digits = true;
            } else {
                in_digits = false;
                out.push(c);
            }
        }
    }
    out.push_str(&word[t.len()..]);
}

/// The signature of a message.
pub fn signature(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_LEN + 8));
    let mut word = String::new();
    let mut last_space = true;
    for c in message.chars() {
        if word_char(c) {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            push_word(&mut out, &word);
            word.clear();
            last_space = false;
        }
        if c.is_whitespace() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
        if out.len() > MAX_LEN * 2 {
            break;
        }
    }
    if !word.is_empty() {
        push_word(&mut out, &word);
    }
    let trimmed = out.trim();
    match trimmed.char_indices().nth(MAX_LEN) {
        Some((i, _)) => format!("{}…", &trimmed[..i]),
        None => trimmed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn what_varies_is_replaced() {
        let cases = [
            (
                "2025-06-12T09:41:07.123Z 3f1c2d4e-1111-4a2b-9c3d-0123456789ab ERROR Task timed out after 3.00 seconds",
                "<time> <uuid> ERROR Task timed out after <n>.<n> seconds",
            ),
            ("connect ETIMEDOUT 10.0.12.7:5432", "connect ETIMEDOUT <ip>"),
            ("denied for sg-0a1b2c3d4e5f60718 on eni-0123456789abcdef0.", "denied for <id> on <id>."),
            ("request 9f86d081884c7d65 failed", "request <hex> failed"),
            ("  many    spaces\there ", "many spaces here"),
            ("order 123 failed: order 456", "order <n> failed: order <n>"),
            ("at 2025-06-12 and 2025-06-12T09:41:07+09:00: 12-34", "at <time> and <time>+<n>:<n>: <n>-<n>"),
        ];
        for (m, want) in cases {
            assert_eq!(signature(m), want, "{m}");
        }
        // the same failure with other ids is one signature
        assert_eq!(
            signature("user 17 at 10.1.1.1 failed a3f1c2d4-1111-4a2b-9c3d-0123456789ab"),
            signature("user 9 at 192.168.0.22 failed 00000000-2222-4a2b-9c3d-0123456789ab")
        );
        let long = "x".repeat(500);
        assert!(signature(&long).chars().count() <= super::MAX_LEN + 1);
        assert_eq!(signature(""), "");
    }
}
