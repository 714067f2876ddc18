//! YAML text → a small tree of nodes that remember where they came from.
//!
//! Built on `saphyr-parser`'s event stream so that every key and value carries its line and
//! column. Hostile input is bounded here: size cap, nesting depth, alias expansion budget,
//! a single document, no tags. Duplicate keys are reported (the first occurrence wins).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};

use super::diag::{Diagnostic, Pos};

/// Specs larger than this are refused before parsing.
pub const MAX_BYTES: usize = 1024 * 1024;
/// Deepest nesting of maps and lists accepted.
pub const MAX_DEPTH: usize = 32;
/// Most nodes a document may have after alias expansion (stops "billion laughs").
pub const MAX_NODES: usize = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `plain` is true for unquoted scalars, whose type (null, bool, int, float) is resolved
    /// by the YAML 1.2 core schema; quoted and block scalars are always strings.
    Scalar {
        value: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

/// The resolved type of a scalar under the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer too large for i64, kept as written.
    BigInt(&'a str),
    Float(f64),
    Str(&'a str),
}

impl Node {
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
            Kind::Scalar { .. } => match self.scalar() {
                Some(Scalar::Null) => "an empty value",
                Some(Scalar::Bool(_)) => "a boolean",
                Some(Scalar::Int(_)) | Some(Scalar::BigInt(_)) => "an integer",
                Some(Scalar::Float(_)) => "a number",
                _ => "a string",
            },
        }
    }

    pub fn scalar(&self) -> Option<Scalar<'_>> {
        let Kind::Scalar { value, plain } = &self.kind else {
            return None;
        };
        if !plain {
            return Some(Scalar::Str(value));
        }
        let v = value.as_str();
        Some(match v {
            "" | "~" | "null" | "Null" | "NULL" => Scalar::Null,
            "true" | "True" | "TRUE" => Scalar::Bool(true),
            "false" | "False" | "FALSE" => Scalar::Bool(false),
            _ if is_int(v) => match v.parse::<i64>() {
                Ok(n) => Scalar::Int(n),
                Err(_) => Scalar::BigInt(v),
            },
            _ if is_float(v) => Scalar::Float(v.parse().unwrap_or(f64::NAN)),
            _ => Scalar::Str(v),
        })
    }
}

fn is_int(v: &str) -> bool {
    let digits = v.strip_prefix(['-', '+']).unwrap_or(v);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        || v.strip_prefix("0x").is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
        || v.strip_prefix("0o").is_some_and(|o| !o.is_empty() && o.bytes().all(|b| (b'0'..=b'7').contains(&b)))
}

fn is_float(v: &str) -> bool {
    matches!(v, ".inf" | ".Inf" | ".INF" | "-.inf" | "+.inf" | ".nan" | ".NaN" | ".NAN")
        || (v.bytes().any(|b| b.is_ascii_digit())
            && v.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
            && v.parse::<f64>().is_ok())
}

fn pos_of(m: &saphyr_parser::Marker) -> Pos {
    Pos { line: m.line(), col: m.col() + 1 }
}

/// Line and column of a byte offset in `text` (for errors found before parsing).
pub fn pos_at_byte(text: &[u8], offset: usize) -> Pos {
    let before = &text[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let col = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    Pos { line, col }
}

enum Frame {
    Seq { pos: Pos, anchor: usize, items: Vec<Node> },
    Map { pos: Pos, anchor: usize, entries: Vec<(Key, Node)>, pending_key: Option<Key> },
}

/// Parses one YAML document. Returns the root node (if the document could be read at all)
/// and every problem found on the way.
pub fn parse(bytes: &[u8]) -> (Option<Node>, Vec<Diagnostic>) {
    parse_with_limits(bytes, MAX_BYTES, MAX_NODES)
}

/// [`parse`] with other size limits (the renderer reads back templates far larger than a spec).
pub fn parse_with_limits(bytes: &[u8], max_bytes: usize, max_nodes: usize) -> (Option<Node>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    if bytes.len() > max_bytes {
        diags.push(
            Diagnostic::error(Pos::START, format!("the spec is {} bytes; the limit is {max_bytes}", bytes.len()))
                .hint("a spec describes accounts and regions, not data: check that this is the right file"),
        );
        return (None, diags);
    }
    let text = match std::str::from_utf8(bytes) {
        // A leading byte-order mark (some Windows editors write one) is not content.
        Ok(t) => t.strip_prefix('\u{feff}').unwrap_or(t),
        Err(e) => {
            diags.push(
                Diagnostic::error(pos_at_byte(bytes, e.valid_up_to()), "the spec is not valid UTF-8")
                    .hint("save the file as UTF-8"),
            );
            return (None, diags);
        }
    };
    if text.trim().is_empty() || text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        diags
            .push(Diagnostic::error(Pos::START, "the spec is empty").hint(
                "run `opslake init` for a commented starter; the minimum is name, home, regions and lake.bucket",
            ));
        return (None, diags);
    }
    let mut builder = Builder { anchors: HashMap::new(), nodes: 0, max_nodes, diags: &mut diags };
    let root = builder.run(text);
    if root.is_none() && diags.is_empty() {
        // e.g. a file holding only `...` or `---`: no document at all.
        diags
            .push(Diagnostic::error(Pos::START, "the spec has no content").hint(
                "run `opslake init` for a commented starter; the minimum is name, home, regions and lake.bucket",
            ));
    }
    (root, diags)
}

struct Builder<'d> {
    anchors: HashMap<usize, Node>,
    nodes: usize,
    max_nodes: usize,
    diags: &'d mut Vec<Diagnostic>,
}

impl Builder<'_> {
    fn run(&mut self, text: &str) -> Option<Node> {
        let mut stack: Vec<Frame> = Vec::new();
        let mut root: Option<Node> = None;
        let mut documents = 0;
        for event in Parser::new_from_str(text) {
            let (event, span) = match event {
                Ok(e) => e,
                Err(e) => {
                    let info = e.info().to_string();
                    self.diags.push(
                        Diagnostic::error(pos_of(e.marker()), format!("YAML syntax error: {info}"))
                            .hint("check indentation and quoting around this position"),
                    );
                    return None;
                }
            };
            let pos = pos_of(&span.start);
            let done: Option<Node> = match event {
                Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => None,
                Event::DocumentStart(_) => {
                    documents += 1;
                    if documents > 1 {
                        self.diags.push(
                            Diagnostic::error(pos, "the spec has more than one YAML document")
                                .hint("keep one spec per file: remove this `---` and what follows"),
                        );
                        return None;
                    }
                    None
                }
                Event::Scalar(value, style, anchor, tag) => {
                    if let Some(tag) = tag {
                        self.diags.push(
                            Diagnostic::error(
                                pos,
                                format!("YAML tags are not used in a spec (found `{}{}`)", tag.handle, tag.suffix),
                            )
                            .hint("remove the tag; write the value as plain text"),
                        );
                    }
                    let node = Node {
                        pos,
                        kind: Kind::Scalar { value: value.into_owned(), plain: style == ScalarStyle::Plain },
                    };
                    if !self.count(pos, 1) {
                        return None;
                    }
                    if anchor > 0 {
                        self.anchors.insert(anchor, node.clone());
                    }
                    Some(node)
                }
                Event::Alias(id) => match self.anchors.get(&id).cloned() {
                    Some(node) => {
                        if !self.count(pos, count_nodes(&node)) {
                            return None;
                        }
                        Some(Node { pos, ..node })
                    }
                    None => {
                        self.diags.push(Diagnostic::error(pos, "alias to an unknown anchor"));
                        return None;
                    }
                },
                Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) if stack.len() >= MAX_DEPTH => {
                    let _ = (anchor, tag);
                    self.diags.push(
                        Diagnostic::error(pos, format!("the spec is nested deeper than {MAX_DEPTH} levels"))
                            .hint("a spec is at most a few levels deep: check for runaway brackets"),
                    );
                    return None;
                }
                Event::SequenceStart(_, Some(tag)) | Event::MappingStart(_, Some(tag)) => {
                    self.diags.push(
                        Diagnostic::error(
                            pos,
                            format!("YAML tags are not used in a spec (found `{}{}`)", tag.handle, tag.suffix),
                        )
                        .hint("remove the tag; write the value as plain YAML"),
                    );
                    return None;
                }
                Event::SequenceStart(anchor, None) => {
                    stack.push(Frame::Seq { pos, anchor, items: Vec::new() });
                    None
                }
                Event::MappingStart(anchor, None) => {
                    stack.push(Frame::Map { pos, anchor, entries: Vec::new(), pending_key: None });
                    None
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let node = match stack.pop() {
                        Some(Frame::Seq { pos, anchor, items }) => (anchor, Node { pos, kind: Kind::Seq(items) }),
                        Some(Frame::Map { pos, anchor, entries, .. }) => {
                            (anchor, Node { pos, kind: Kind::Map(entries) })
                        }
                        None => return None,
                    };
                    if !self.count(node.1.pos, 1) {
                        return None;
                    }
                    if node.0 > 0 {
                        self.anchors.insert(node.0, node.1.clone());
                    }
                    Some(node.1)
                }
            };
            let Some(node) = done else { continue };
            match stack.last_mut() {
                None => root = Some(node),
                Some(Frame::Seq { items, .. }) => items.push(node),
                Some(Frame::Map { entries, pending_key, .. }) => match pending_key.take() {
                    None => match node.kind {
                        Kind::Scalar { value, .. } => *pending_key = Some(Key { name: value, pos: node.pos }),
                        _ => {
                            self.diags.push(
                                Diagnostic::error(node.pos, "a mapping key must be plain text")
                                    .hint("complex keys (`? [a, b]`) are not used in a spec"),
                            );
                            return None;
                        }
                    },
                    Some(key) => {
                        if let Some((first, _)) = entries.iter().find(|(k, _)| k.name == key.name) {
                            self.diags.push(
                                Diagnostic::error(key.pos, format!("duplicate key `{}`", key.name))
                                    .width(key.name.chars().count())
                                    .hint(format!("it is already set at line {}; keep one of them", first.pos.line)),
                            );
                        } else {
                            entries.push((key, node));
                        }
                    }
                },
            }
        }
        root
    }

    fn count(&mut self, pos: Pos, n: usize) -> bool {
        self.nodes += n;
        if self.nodes > self.max_nodes {
            self.diags.push(
                Diagnostic::error(pos, format!("the spec expands to more than {} values", self.max_nodes))
                    .hint("aliases (`*name`) multiply their anchor's content; expand fewer of them"),
            );
            return false;
        }
        true
    }
}

fn count_nodes(n: &Node) -> usize {
    match &n.kind {
        Kind::Scalar { .. } => 1,
        Kind::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Kind::Map(entries) => 1 + entries.iter().map(|(_, v)| 1 + count_nodes(v)).sum::<usize>(),
    }
}

/// Converts a node tree to JSON with YAML 1.2 core-schema scalar types.
pub fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value;
    match &node.kind {
        Kind::Scalar { .. } => match node.scalar() {
            Some(Scalar::Null) | None => Value::Null,
            Some(Scalar::Bool(b)) => Value::Bool(b),
            Some(Scalar::Int(n)) => Value::from(n),
            Some(Scalar::BigInt(s)) | Some(Scalar::Str(s)) => Value::String(s.to_string()),
            Some(Scalar::Float(f)) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        },
        Kind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Kind::Map(entries) => Value::Object(entries.iter().map(|(k, v)| (k.name.clone(), to_json(v))).collect()),
    }
}
