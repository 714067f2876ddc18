//! ALB access-log lines. A hand tokenizer that gives the same fields as the table's
//! RegexSerDe pattern ([`crate::lake::ALB_REGEX`]) — a test checks both on every fixture
//! line — at a fraction of the cost.

use crate::lake::ALB_FIELDS;

/// Number of columns of an ALB line.
pub const FIELDS: usize = 34;

/// One parsed line: each column's text as the regex would capture it (`None`: the optional
/// group did not participate, i.e. an older line without that field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    pub fields: [Option<&'a str>; FIELDS],
}

/// Index of a column by name.
pub fn column(name: &str) -> Option<usize> {
    ALB_FIELDS.iter().position(|(n, _)| *n == name)
}

impl<'a> Line<'a> {
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.fields[column(name)?]
    }

    /// The column as Athena types it: ints and doubles that do not parse are NULL.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name)?.parse().ok()
    }
}

/// Splits on single spaces; a token starting with `"` runs to the next `"` followed by a
/// space or the end (ALB quotes fields that may contain spaces).
fn tokens(line: &str) -> Option<Vec<(&str, bool, &str)>> {
    let mut out = Vec::with_capacity(32);
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            loop {
                match b[j..].iter().position(|&c| c == b'"') {
                    Some(k) => {
                        j += k;
                        if j + 1 == b.len() || b[j + 1] == b' ' {
                            break;
                        }
                        j += 1;
                    }
                    None => return None,
                }
            }
            out.push((&line[start..j], true, &line[start - 1..=j]));
            i = j + 1;
        } else {
            let end = b[i..].iter().position(|&c| c == b' ').map_or(b.len(), |k| i + k);
            out.push((&line[i..end], false, &line[i..end]));
            i = end;
        }
        if i < b.len() {
            if b[i] != b' ' {
                return None;
            }
            i += 1;
        }
    }
    Some(out)
}

fn split_last<'a>(s: &'a str, seps: &[u8]) -> Option<(&'a str, &'a str)> {
    // `([^ ]*)[seps]([0-9]*)`, greedy: the digits run at the end, preceded by a separator.
    let b = s.as_bytes();
    let mut i = b.len();
    while i > 0 && b[i - 1].is_ascii_digit() {
        i -= 1;
    }
    (i > 0 && seps.contains(&b[i - 1])).then(|| (&s[..i - 1], &s[i..]))
}

fn all(s: &str, ok: impl Fn(u8) -> bool) -> bool {
    s.bytes().all(ok)
}

/// Parses a line; `None` when it does not match the table's pattern (Athena would give a
/// row of NULLs; the local engine counts it as a bad line).
pub fn parse(line: &str) -> Option<Line<'_>> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let t = tokens(line)?;
    if t.len() < 18 {
        return None;
    }
    let plain = |i: usize| -> Option<&str> { (!t[i].1).then_some(t[i].0) };
    let quoted = |i: usize| -> Option<&str> { t[i].1.then_some(t[i].0) };
    let mut f: [Option<&str>; FIELDS] = [None; FIELDS];
    f[0] = plain(0);
    f[1] = plain(1);
    f[2] = plain(2);
    let (cip, cport) = split_last(plain(3)?, b":")?;
    f[3] = Some(cip);
    f[4] = Some(cport);
    let (tip, tport) = split_last(plain(4)?, b":-")?;
    f[5] = Some(tip);
    f[6] = Some(tport);
    for (k, i) in [(7, 5), (8, 6), (9, 7)] {
        let v = plain(i)?;
        if !all(v, |c| c == b'-' || c == b'.' || c.is_ascii_digit()) {
            return None;
        }
        f[k] = Some(v);
    }
    let elb = plain(8)?;
    let target = plain(9)?;
    let received = plain(10)?;
    let sent = plain(11)?;
    let numeric = |v: &str| all(v, |c| c == b'-' || c.is_ascii_digit());
    if !(numeric(elb) && numeric(target) && numeric(received) && numeric(sent)) {
        return None;
    }
    f[10] = Some(elb);
    f[11] = Some(target);
    f[12] = Some(received);
    f[13] = Some(sent);
    // "VERB URL PROTO": verb up to the first space, proto after the last space
    let req = quoted(12)?;
    let (verb, rest) = req.split_once(' ')?;
    if verb.contains(' ') {
        return None;
    }
    let (url, proto) = if let Some(u) = rest.strip_suffix(" - ") { (u, "- ") } else { rest.rsplit_once(' ')? };
    f[14] = Some(verb);
    f[15] = Some(url);
    f[16] = Some(proto);
    f[17] = Some(quoted(13)?);
    let cipher = plain(14)?;
    if cipher.is_empty()
        || !all(cipher, |c| c.is_ascii_uppercase() || c.is_ascii_digit() || (b'9'..=b'_').contains(&c) || c == b'-')
    {
        return None;
    }
    f[18] = Some(cipher);
    let proto_tls = plain(15)?;
    if !all(proto_tls, |c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-') {
        return None;
    }
    f[19] = Some(proto_tls);
    f[20] = Some(plain(16)?);
    f[21] = Some(quoted(17)?);
    // optional tails, each all-or-nothing like the pattern's nested groups
    let mut next = 18;
    if t.len() >= next + 7 {
        let tail = (|| {
            Some([
                quoted(next)?,
                quoted(next + 1)?,
                plain(next + 2).filter(|v| all(v, |c| c == b'-' || c == b'.' || c.is_ascii_digit()))?,
                plain(next + 3)?,
                quoted(next + 4)?,
                quoted(next + 5)?,
                quoted(next + 6).filter(|v| !v.contains(' '))?,
            ])
        })();
        if let Some(vals) = tail {
            for (k, v) in vals.into_iter().enumerate() {
                f[22 + k] = Some(v);
            }
            next += 7;
            let list = |i: usize| quoted(i).filter(|v| !v.is_empty() && !v.contains(char::is_whitespace));
            if t.len() >= next + 2 {
                if let (Some(a), Some(b)) = (list(next), list(next + 1)) {
                    f[29] = Some(a);
                    f[30] = Some(b);
                    next += 2;
                    let nospace = |i: usize| quoted(i).filter(|v| !v.contains(' '));
                    if t.len() >= next + 2 {
                        if let (Some(a), Some(b)) = (nospace(next), nospace(next + 1)) {
                            f[31] = Some(a);
                            f[32] = Some(b);
                            next += 2;
                            if t.len() > next {
                                // `([^ ]*)` takes the token as written, quotes included
                                if !t[next].2.contains(' ') {
                                    f[33] = Some(t[next].2);
                                }
                            } else if line.ends_with(' ') {
                                f[33] = Some("");
                            }
                        }
                    }
                }
            }
        }
    }
    Some(Line { fields: f })
}
