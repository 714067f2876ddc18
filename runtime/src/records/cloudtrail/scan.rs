//! Reading a CloudTrail file in one pass over its bytes, deserializing only the record fields
//! a reader asked for.
//!
//! A record is ~1 KB of JSON, and most of it is nested payloads (`requestParameters`,
//! `responseElements`, the session context) that an aggregate never reads. The scanner finds
//! each record's top-level keys; a wanted key's value goes to serde (the same deserializers
//! [`Record`] uses, so a value reads the same either way), and every other value is skipped
//! structurally: strings are closed, brackets matched by kind, nesting bounded as serde_json
//! bounds it. The skips look up the file's [`Index`] of quotes and brackets, so they pass a
//! string or a nested payload without looking at each of its bytes. A file whose structure is broken is a problem and yields no record; a record
//! whose wanted field does not fit the model is a bad record, and the others are kept.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::index::{Index, Quotes};
use super::{FileProblem, Record, Text};

/// A record's top-level keys, in the order CloudTrail writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    EventVersion,
    UserIdentity,
    EventTime,
    EventSource,
    EventName,
    AwsRegion,
    SourceIpAddress,
    UserAgent,
    ErrorCode,
    ErrorMessage,
    RequestParameters,
    ResponseElements,
    AdditionalEventData,
    RequestId,
    EventId,
    ReadOnly,
    Resources,
    EventType,
    ApiVersion,
    ManagementEvent,
    RecipientAccountId,
    ServiceEventDetails,
    SharedEventId,
    VpcEndpointId,
    VpcEndpointAccountId,
    EventCategory,
    Addendum,
    SessionCredentialFromConsole,
    EdgeDeviceDetails,
    TlsDetails,
    InsightDetails,
}

impl Field {
    /// Every field, in declaration order.
    pub const ALL: [Field; 31] = [
        Field::EventVersion,
        Field::UserIdentity,
        Field::EventTime,
        Field::EventSource,
        Field::EventName,
        Field::AwsRegion,
        Field::SourceIpAddress,
        Field::UserAgent,
        Field::ErrorCode,
        Field::ErrorMessage,
        Field::RequestParameters,
        Field::ResponseElements,
        Field::AdditionalEventData,
        Field::RequestId,
        Field::EventId,
        Field::ReadOnly,
        Field::Resources,
        Field::EventType,
        Field::ApiVersion,
        Field::ManagementEvent,
        Field::RecipientAccountId,
        Field::ServiceEventDetails,
        Field::SharedEventId,
        Field::VpcEndpointId,
        Field::VpcEndpointAccountId,
        Field::EventCategory,
        Field::Addendum,
        Field::SessionCredentialFromConsole,
        Field::EdgeDeviceDetails,
        Field::TlsDetails,
        Field::InsightDetails,
    ];

    /// The field a JSON key names (the key as CloudTrail writes it, as [`Record`]'s serde
    /// names it).
    #[inline(always)]
    fn of(key: &[u8]) -> Option<Field> {
        // By length first, then against the few keys of that length.
        Some(match key.len() {
            7 => match key {
                b"eventID" => Field::EventId,
                _ => return None,
            },
            8 => match key {
                b"readOnly" => Field::ReadOnly,
                b"addendum" => Field::Addendum,
                _ => return None,
            },
            9 => match key {
                b"eventTime" => Field::EventTime,
                b"eventName" => Field::EventName,
                b"awsRegion" => Field::AwsRegion,
                b"userAgent" => Field::UserAgent,
                b"errorCode" => Field::ErrorCode,
                b"requestID" => Field::RequestId,
                b"eventType" => Field::EventType,
                b"resources" => Field::Resources,
                _ => return None,
            },
            10 => match key {
                b"apiVersion" => Field::ApiVersion,
                b"tlsDetails" => Field::TlsDetails,
                _ => return None,
            },
            11 => match key {
                b"eventSource" => Field::EventSource,
                _ => return None,
            },
            12 => match key {
                b"eventVersion" => Field::EventVersion,
                b"userIdentity" => Field::UserIdentity,
                b"errorMessage" => Field::ErrorMessage,
                _ => return None,
            },
            13 => match key {
                b"eventCategory" => Field::EventCategory,
                b"vpcEndpointId" => Field::VpcEndpointId,
                b"sharedEventID" => Field::SharedEventId,
                _ => return None,
            },
            14 => match key {
                b"insightDetails" => Field::InsightDetails,
                _ => return None,
            },
            15 => match key {
                b"sourceIPAddress" => Field::SourceIpAddress,
                b"managementEvent" => Field::ManagementEvent,
                _ => return None,
            },
            16 => match key {
                b"responseElements" => Field::ResponseElements,
                _ => return None,
            },
            17 => match key {
                b"requestParameters" => Field::RequestParameters,
                b"edgeDeviceDetails" => Field::EdgeDeviceDetails,
                _ => return None,
            },
            18 => match key {
                b"recipientAccountId" => Field::RecipientAccountId,
                _ => return None,
            },
            19 => match key {
                b"additionalEventData" => Field::AdditionalEventData,
                b"serviceEventDetails" => Field::ServiceEventDetails,
                _ => return None,
            },
            20 => match key {
                b"vpcEndpointAccountId" => Field::VpcEndpointAccountId,
                _ => return None,
            },
            28 => match key {
                b"sessionCredentialFromConsole" => Field::SessionCredentialFromConsole,
                _ => return None,
            },
            _ => return None,
        })
    }

    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// The set of fields a reader needs; the others stay `None` in the records it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields(u32);

impl Fields {
    /// Every field: records as [`Record`]'s serde reads them whole.
    pub const ALL: Fields = Fields((1 << Field::ALL.len()) - 1);

    pub const fn of(list: &[Field]) -> Fields {
        let mut bits = 0;
        let mut i = 0;
        while i < list.len() {
            bits |= list[i].bit();
            i += 1;
        }
        Fields(bits)
    }

    pub const fn with(self, other: Fields) -> Fields {
        Fields(self.0 | other.0)
    }

    /// Whether `f` is wanted whole.
    pub const fn has(self, f: Field) -> bool {
        self.0 & f.bit() != 0
    }

    /// `userIdentity` read for its `arn` alone ([`Record::arn`]): the identity's other members,
    /// its session context most of all, are skipped, not parsed. Without
    /// [`Field::UserIdentity`] itself, a record's identity holds its `arn` and nothing else.
    pub const USER_ARN: Fields = Fields(1 << Field::ALL.len());

    /// Whether the scanner takes `f`'s value, whole or in part.
    const fn reads(self, f: Field) -> bool {
        self.has(f) || (matches!(f, Field::UserIdentity) && self.0 & Fields::USER_ARN.0 != 0)
    }
}

impl Default for Fields {
    fn default() -> Self {
        Fields::ALL
    }
}

/// What a file held: its records (with the wanted fields), how many did not fit, and how
/// many the reader did not want.
#[derive(Debug, Default)]
pub struct Read<'a> {
    pub records: Vec<Record<'a>>,
    pub bad: u64,
    pub refused: u64,
}

/// What [`read_each`] handed over: how many records, how many did not fit, and how many the
/// reader did not want.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub records: u64,
    pub bad: u64,
    pub refused: u64,
}

/// Reads a CloudTrail file (`{"Records": [...]}`): its records with `fields` filled in.
/// `keep` sees a record's raw `eventName` value (`None` when it has none) and says whether
/// the record is wanted at all; a record it refuses is neither deserialized nor counted bad.
pub fn read<'a>(bytes: &'a [u8], fields: Fields, keep: &dyn Fn(Option<&str>) -> bool) -> Result<Read<'a>, FileProblem> {
    let mut records = Vec::new();
    let tally = read_each(bytes, fields, keep, &mut |r| records.push(std::mem::take(r)))?;
    Ok(Read { records, bad: tally.bad, refused: tally.refused })
}

/// [`read`], handing each record to `each` as it is filled in instead of collecting them: no
/// record is kept after its turn (`each` may take it). The whole file is checked first, so a
/// file whose structure is broken hands over no record, as [`read`] returns none.
pub fn read_each<'a>(
    bytes: &'a [u8],
    fields: Fields,
    keep: &dyn Fn(Option<&str>) -> bool,
    each: &mut dyn FnMut(&mut Record<'a>),
) -> Result<Tally, FileProblem> {
    // One UTF-8 check of the whole file (SIMD), rather than one per string and value; the
    // standard library's check says where a file fails it.
    let text = simdutf8::basic::from_utf8(bytes).or_else(|_| {
        std::str::from_utf8(bytes).map_err(|e| FileProblem(format!("invalid JSON: not UTF-8 text ({e})")))
    })?;
    let index = Index::new(bytes);
    let mut c = Cursor::new(bytes, 0, &index);
    c.ws();
    if c.peek() != Some(OPEN_BRACE) {
        if c.peek().is_none() {
            return Err(FileProblem("invalid JSON: empty".into()));
        }
        c.skip_value().map_err(invalid)?;
        c.end().map_err(invalid)?;
        return Err(FileProblem("not a CloudTrail log file: not a JSON object".into()));
    }
    c.i += 1;
    let mut out: Option<Found> = None;
    let mut digest = false;
    let mut first = true;
    while let Some(key) = c.next_key(&mut first).map_err(invalid)? {
        match &*key {
            "Records" if c.peek() == Some(b'[') => out = Some(records(&mut c, text, fields, keep)?),
            "Records" => {
                c.skip_value().map_err(invalid)?;
                return Err(FileProblem("not a CloudTrail log file: \"Records\" is not a list".into()));
            }
            "digestStartTime" => {
                digest = true;
                c.skip_value().map_err(invalid)?;
            }
            _ => c.skip_value().map_err(invalid)?,
        }
    }
    c.end().map_err(invalid)?;
    match (out, digest) {
        (Some(found), _) => Ok(found.fill(&c, text, fields, each)),
        (None, true) => Err(FileProblem("a CloudTrail digest file, not a log file".into())),
        (None, false) => Err(FileProblem("not a CloudTrail log file: no \"Records\" array".into())),
    }
}

fn invalid(e: Broken) -> FileProblem {
    FileProblem(format!("invalid JSON: {} at byte {}", e.what, e.at))
}

/// A value's text. A value starts and ends at ASCII bytes, so it is never cut inside a
/// character (an empty text, which no reader accepts, if it were).
fn text_at(text: &str, s: usize, e: usize) -> &str {
    text.get(s..e).unwrap_or_default()
}

/// Where the wanted values of a file's kept records are, in one list: per record, how many
/// values it has, then each value's field, start and end, in the record's order.
struct Found {
    spans: Vec<u32>,
    bad: u64,
    refused: u64,
}

impl Found {
    /// Fills one record at a time with its values (the same record, its previous values
    /// cleared) and hands it to `each`.
    fn fill<'a>(
        &self,
        c: &Cursor<'a, '_>,
        text: &'a str,
        fields: Fields,
        each: &mut dyn FnMut(&mut Record<'a>),
    ) -> Tally {
        let mut tally = Tally { records: 0, bad: self.bad, refused: self.refused };
        let mut r = Record::default();
        // An identity read for its ARN alone, emptied, for the next record's (one allocation
        // per file rather than per record).
        let mut spare: Option<Box<super::UserIdentity<'a>>> = None;
        let mut set_before = 0u32;
        let mut values = self.spans.iter().map(|&v| v as usize);
        while let Some(n) = values.next() {
            while set_before != 0 {
                let f = Field::ALL[set_before.trailing_zeros() as usize];
                set_before &= set_before - 1;
                if f == Field::UserIdentity && !fields.has(f) {
                    if let Some(mut identity) = r.user_identity.take() {
                        *identity = super::UserIdentity::default();
                        spare = Some(identity);
                    }
                } else {
                    clear(&mut r, f);
                }
            }
            let mut fits = true;
            for _ in 0..n {
                let (Some(f), Some(s), Some(e)) = (values.next(), values.next(), values.next()) else { break };
                let Some(&f) = Field::ALL.get(f) else { continue };
                set_before |= f.bit();
                fits = fits
                    && match f {
                        Field::UserIdentity if !fields.has(f) => {
                            user_arn(&mut r, Cursor::new(c.b, s, c.index), text, &mut spare)
                        }
                        _ => set(&mut r, f, text_at(text, s, e)),
                    };
            }
            if fits {
                tally.records += 1;
                each(&mut r);
            } else {
                tally.bad += 1;
            }
        }
        tally
    }
}

/// The `Records` array, the cursor on its `[`: where each kept record's wanted values are.
fn records(
    c: &mut Cursor<'_, '_>,
    text: &str,
    fields: Fields,
    keep: &dyn Fn(Option<&str>) -> bool,
) -> Result<Found, FileProblem> {
    let mut out = Found { spans: Vec::with_capacity(VALUES_AT_ONCE), bad: 0, refused: 0 };
    c.i += 1;
    let mut first = true;
    while c.next_element(&mut first).map_err(invalid)? {
        if c.peek() != Some(OPEN_BRACE) {
            c.skip_value().map_err(invalid)?;
            out.bad += 1;
            continue;
        }
        let head = out.spans.len();
        let name = c.record(fields, &mut out.spans).map_err(invalid)?;
        let name = name.map(|(s, e)| text_at(text, s, e));
        if !keep(name.and_then(unquoted).or(name)) {
            out.spans.truncate(head);
            out.refused += 1;
        }
    }
    Ok(out)
}

/// Room for a file's wanted values before the list grows: CloudTrail's small deliveries (16
/// records on average in real trails) with a handful of values each.
const VALUES_AT_ONCE: usize = 512;

/// A JSON string's text between its quotes, as it stands (escapes not undone); `None` for any
/// other value.
fn unquoted(v: &str) -> Option<&str> {
    let b = v.as_bytes();
    match (b.first(), b.last()) {
        (Some(&QUOTE), Some(&QUOTE)) if b.len() >= 2 => v.get(1..v.len() - 1),
        _ => None,
    }
}

/// A text value (or `null`) into its slot; `false` when it is neither.
fn text<'a>(slot: &mut Option<Text<'a>>, v: &'a str) -> bool {
    // The common case, a string without escapes, borrowed as it is.
    if let Some(s) = unquoted(v) {
        if plain(s.as_bytes()) {
            *slot = Some(Text(Cow::Borrowed(s)));
            return true;
        }
    }
    serde_json::from_str(v).map(|t| *slot = t).is_ok()
}

/// Whether a string's bytes between its quotes are its text: no backslash (an escape) and no
/// control character (which JSON does not allow there). Eight bytes at a time: a byte below
/// 0x20 borrows into its high bit when 0x20 is taken from it, and so does a backslash, XORed
/// with 0x5C, when 1 is; a borrow starts only at such a byte, so the word has one exactly when
/// a high bit is set.
fn plain(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let hit = |w: [u8; 8]| {
        let x = u64::from_le_bytes(w);
        let y = x ^ (ONES * 0x5C);
        ((x.wrapping_sub(ONES * 0x20) & !x) | (y.wrapping_sub(ONES) & !y)) & HIGH != 0
    };
    let (words, rest) = s.as_chunks::<8>();
    if words.iter().any(|&w| hit(w)) {
        return false;
    }
    match s.last_chunk::<8>() {
        // The last eight bytes again, overlapping the words before: the rest is among them.
        Some(&last) if !rest.is_empty() => !hit(last),
        Some(_) => true,
        None => !rest.iter().any(|&b| b < 0x20 || b == b'\\'),
    }
}

/// `userIdentity`'s `arn` alone ([`Fields::USER_ARN`]), the cursor on the identity's value. An
/// object gives an identity with its `arn` (the last, if the key repeats); anything else reads
/// as serde reads it (`null` is no identity, other values do not fit), and so does an `arn`
/// that is not text.
fn user_arn<'a>(
    r: &mut Record<'a>,
    mut c: Cursor<'a, '_>,
    text_of: &'a str,
    spare: &mut Option<Box<super::UserIdentity<'a>>>,
) -> bool {
    let start = c.i;
    if c.peek() != Some(OPEN_BRACE) {
        return c.skip_value().is_ok() && set(r, Field::UserIdentity, text_at(text_of, start, c.i));
    }
    let mut arn = None;
    let walked = c.members(|c, (s, e), value| {
        let raw = &c.b[s..e];
        if raw == b"arn" || (raw.contains(&b'\\') && c.key_text(s, e).is_ok_and(|k| k == "arn")) {
            arn = Some(value);
        }
        Ok(())
    });
    if walked.is_err() {
        return false;
    }
    let mut identity = spare.take().unwrap_or_default();
    if let Some((s, e)) = arn {
        if !text(&mut identity.arn, text_at(text_of, s, e)) {
            return false;
        }
    }
    r.user_identity = Some(identity);
    true
}

/// Where a field's value goes in a record.
enum Slot<'r, 'a> {
    Text(&'r mut Option<Text<'a>>),
    Raw(&'r mut Option<&'a RawValue>),
    Identity(&'r mut Option<Box<super::UserIdentity<'a>>>),
}

fn slot<'r, 'a>(r: &'r mut Record<'a>, f: Field) -> Slot<'r, 'a> {
    match f {
        Field::EventVersion => Slot::Text(&mut r.event_version),
        Field::UserIdentity => Slot::Identity(&mut r.user_identity),
        Field::EventTime => Slot::Text(&mut r.event_time),
        Field::EventSource => Slot::Text(&mut r.event_source),
        Field::EventName => Slot::Text(&mut r.event_name),
        Field::AwsRegion => Slot::Text(&mut r.aws_region),
        Field::SourceIpAddress => Slot::Text(&mut r.source_ip_address),
        Field::UserAgent => Slot::Text(&mut r.user_agent),
        Field::ErrorCode => Slot::Text(&mut r.error_code),
        Field::ErrorMessage => Slot::Text(&mut r.error_message),
        Field::RequestParameters => Slot::Raw(&mut r.request_parameters),
        Field::ResponseElements => Slot::Raw(&mut r.response_elements),
        Field::AdditionalEventData => Slot::Raw(&mut r.additional_event_data),
        Field::RequestId => Slot::Text(&mut r.request_id),
        Field::EventId => Slot::Text(&mut r.event_id),
        Field::ReadOnly => Slot::Text(&mut r.read_only),
        Field::Resources => Slot::Raw(&mut r.resources),
        Field::EventType => Slot::Text(&mut r.event_type),
        Field::ApiVersion => Slot::Text(&mut r.api_version),
        Field::ManagementEvent => Slot::Text(&mut r.management_event),
        Field::RecipientAccountId => Slot::Text(&mut r.recipient_account_id),
        Field::ServiceEventDetails => Slot::Raw(&mut r.service_event_details),
        Field::SharedEventId => Slot::Text(&mut r.shared_event_id),
        Field::VpcEndpointId => Slot::Text(&mut r.vpc_endpoint_id),
        Field::VpcEndpointAccountId => Slot::Text(&mut r.vpc_endpoint_account_id),
        Field::EventCategory => Slot::Text(&mut r.event_category),
        Field::Addendum => Slot::Raw(&mut r.addendum),
        Field::SessionCredentialFromConsole => Slot::Text(&mut r.session_credential_from_console),
        Field::EdgeDeviceDetails => Slot::Raw(&mut r.edge_device_details),
        Field::TlsDetails => Slot::Raw(&mut r.tls_details),
        Field::InsightDetails => Slot::Raw(&mut r.insight_details),
    }
}

/// Deserializes one wanted value into its field; `false` when it does not fit.
fn set<'a>(r: &mut Record<'a>, f: Field, v: &'a str) -> bool {
    match slot(r, f) {
        Slot::Text(t) => text(t, v),
        Slot::Raw(raw) => serde_json::from_str(v).map(|x| *raw = x).is_ok(),
        Slot::Identity(u) => serde_json::from_str(v).map(|x| *u = x).is_ok(),
    }
}

/// Empties one field of a record.
fn clear(r: &mut Record<'_>, f: Field) {
    match slot(r, f) {
        Slot::Text(t) => *t = None,
        Slot::Raw(raw) => *raw = None,
        Slot::Identity(u) => *u = None,
    }
}

/// Why the structure is broken, and where.
#[derive(Debug)]
struct Broken {
    what: &'static str,
    at: usize,
}

/// The double quote (0x22) that opens and closes a JSON string.
pub(super) const QUOTE: u8 = 0x22;

/// The braces (0x7b, 0x7d) that open and close a JSON object. Named, as the quote is, so that
/// a reader counting braces in the source is not misled by them.
pub(super) const OPEN_BRACE: u8 = 0x7b;
pub(super) const CLOSE_BRACE: u8 = 0x7d;

/// serde_json's recursion limit: deeper documents are refused by both readers.
const MAX_DEPTH: usize = 128;

/// A place in a file (`'a`), and the file's index (`'x`).
struct Cursor<'a, 'x> {
    b: &'a [u8],
    i: usize,
    index: &'x Index,
    /// The file's quotes, read in step with `i`: none before it is left unread.
    quotes: Quotes<'x>,
}

impl<'a, 'x> Cursor<'a, 'x> {
    fn new(b: &'a [u8], i: usize, index: &'x Index) -> Self {
        Cursor { b, i, index, quotes: index.quotes(i) }
    }

    fn broken(&self, what: &'static str) -> Broken {
        Broken { what, at: self.i }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.i += 1;
        }
    }

    /// Only whitespace is left.
    fn end(&mut self) -> Result<(), Broken> {
        self.ws();
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.broken("trailing characters")),
        }
    }

    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), Broken> {
        self.ws();
        if self.peek() == Some(byte) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.broken(what))
        }
    }

    /// In an object after its `{`: the next key (unescaped), the cursor on its value; `None`
    /// at the closing `}`.
    fn next_key(&mut self, first: &mut bool) -> Result<Option<Cow<'a, str>>, Broken> {
        if !self.more(CLOSE_BRACE, first, "expected ',' or '}'")? {
            return Ok(None);
        }
        let (s, e) = self.key()?;
        self.key_text(s, e).map(Some)
    }

    /// The text of the key between `s` and `e` (as [`Cursor::key`] gives them), unescaped.
    fn key_text(&self, s: usize, e: usize) -> Result<Cow<'a, str>, Broken> {
        let raw = &self.b[s..e];
        if raw.contains(&b'\\') {
            let quoted = std::str::from_utf8(&self.b[s - 1..e + 1]).map_err(|_| self.broken("invalid key"))?;
            Ok(Cow::Owned(serde_json::from_str::<String>(quoted).map_err(|_| self.broken("invalid key"))?))
        } else {
            Ok(Cow::Borrowed(std::str::from_utf8(raw).map_err(|_| self.broken("invalid key"))?))
        }
    }

    /// In an array after its `[`: whether another element follows (the cursor on it).
    fn next_element(&mut self, first: &mut bool) -> Result<bool, Broken> {
        self.more(b']', first, "expected ',' or ']'")
    }

    /// Past the separator before the next member, or past `close`.
    fn more(&mut self, close: u8, first: &mut bool, what: &'static str) -> Result<bool, Broken> {
        self.ws();
        match self.peek() {
            Some(b) if b == close => {
                self.i += 1;
                Ok(false)
            }
            Some(b',') if !*first => {
                self.i += 1;
                self.ws();
                Ok(true)
            }
            Some(_) if *first => {
                *first = false;
                Ok(true)
            }
            _ => Err(self.broken(what)),
        }
    }

    /// A key and its colon: the key's text without quotes, the cursor on the value.
    #[inline(always)]
    fn key(&mut self) -> Result<(usize, usize), Broken> {
        if self.peek() != Some(QUOTE) {
            return Err(self.broken("expected a key"));
        }
        let start = self.i + 1;
        self.skip_string()?;
        let end = self.i - 1;
        self.expect(b':', "expected ':'")?;
        self.ws();
        Ok((start, end))
    }

    /// One record, the cursor on its `{`: its wanted values onto `spans` (how many, then each
    /// one's field, start and end; a key given twice keeps its last value, as before), and
    /// where its `eventName` value is.
    fn record(&mut self, fields: Fields, spans: &mut Vec<u32>) -> Result<Option<(usize, usize)>, Broken> {
        let head = spans.len();
        spans.push(0);
        let (mut found, mut name) = (0u32, None);
        self.members(|c, (s, e), (start, end)| {
            // A known key has no escapes: only an unknown one is looked at again, unescaped.
            let field = match Field::of(&c.b[s..e]) {
                Some(f) => Some(f),
                None if c.b[s..e].contains(&b'\\') => c.key_text(s, e).ok().and_then(|k| Field::of(k.as_bytes())),
                None => None,
            };
            let Some(f) = field.filter(|&f| fields.reads(f)) else { return Ok(()) };
            if f == Field::EventName {
                name = Some((start, end));
            }
            // Offsets are kept in 32 bits: a value past 4 GiB into a file is refused, not cut
            // short into another value's place.
            let at = |i: usize| u32::try_from(i).map_err(|_| Broken { what: "a file over 4 GiB", at: i });
            let value = [f as u32, at(start)?, at(end)?];
            if found & f.bit() == 0 {
                found |= f.bit();
                // One at a time: `extend` copies three words with a call to `memcpy`.
                for v in value {
                    spans.push(v);
                }
            } else if let Some(again) = spans[head + 1..].chunks_exact_mut(3).find(|v| v[0] == f as u32) {
                again.copy_from_slice(&value);
            }
            Ok(())
        })?;
        spans[head] = found.count_ones();
        Ok(name)
    }

    /// Through the object the cursor is on (at its opening brace): `each` sees every member's key (where its
    /// text is, escapes as they stand) and value (where it is), in order.
    fn members(
        &mut self,
        mut each: impl FnMut(&Self, (usize, usize), (usize, usize)) -> Result<(), Broken>,
    ) -> Result<(), Broken> {
        self.i += 1;
        let mut first = true;
        while self.more(CLOSE_BRACE, &mut first, "expected ',' or '}'")? {
            let key = self.key()?;
            let start = self.i;
            self.skip_value()?;
            each(self, key, (start, self.i))?;
        }
        Ok(())
    }

    /// Past one value, the cursor on its first byte.
    #[inline(always)]
    fn skip_value(&mut self) -> Result<(), Broken> {
        match self.peek() {
            Some(QUOTE) => self.skip_string(),
            Some(OPEN_BRACE | b'[') => self.skip_container(),
            Some(b) if b == b'-' || b.is_ascii_alphanumeric() => {
                while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')) {
                    self.i += 1;
                }
                Ok(())
            }
            Some(_) => Err(self.broken("expected a value")),
            None => Err(self.broken("unexpected end")),
        }
    }

    /// Past a string, the cursor on its opening quote.
    #[inline]
    fn skip_string(&mut self) -> Result<(), Broken> {
        // The next quote unread is this one, unless a nested value was passed by its brackets
        // (its quotes unread): then the reading moves here.
        if self.quotes.next() != Some(self.i) {
            self.quotes.seek(self.i + 1);
        }
        match self.quotes.next() {
            Some(close) => {
                self.i = close + 1;
                Ok(())
            }
            None => {
                self.i = self.b.len();
                Err(self.broken("unterminated string"))
            }
        }
    }

    /// Past an object or array, the cursor on its opening bracket: brackets are matched by
    /// kind, strings passed whole (the index has no bracket inside one).
    fn skip_container(&mut self) -> Result<(), Broken> {
        // One bit per level: set for an object.
        let mut open: u128 = 0;
        let mut depth = 0usize;
        let mut brackets = self.index.brackets(self.i);
        loop {
            let Some(at) = brackets.next() else {
                self.i = self.b.len();
                let what = if self.index.ends_in_string() { "unterminated string" } else { "unexpected end" };
                return Err(self.broken(what));
            };
            self.i = at;
            let b = self.b.get(at).copied().unwrap_or_default();
            if b == OPEN_BRACE || b == b'[' {
                if depth == MAX_DEPTH {
                    return Err(self.broken("nested too deeply"));
                }
                open = (open << 1) | u128::from(b == OPEN_BRACE);
                depth += 1;
            } else {
                if depth == 0 || (open & 1 == 1) != (b == CLOSE_BRACE) {
                    return Err(self.broken("mismatched bracket"));
                }
                open >>= 1;
                depth -= 1;
            }
            if depth == 0 {
                self.i += 1;
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte value, at every place in strings of every length up to three words, among
    /// plain bytes (ASCII and UTF-8's high bytes): `plain` says what a byte-at-a-time look says.
    #[test]
    fn a_plain_string_is_told_as_a_byte_at_a_time_tells_it() {
        let reference = |s: &[u8]| !s.iter().any(|&b| b < 0x20 || b == b'\\');
        for len in 0..=24 {
            for filler in [b'a', b' ', 0x80, 0xFF, 0x5D, 0x21] {
                let mut s = vec![filler; len];
                assert_eq!(plain(&s), reference(&s), "{s:?}");
                for at in 0..len {
                    for b in 0..=255u8 {
                        s[at] = b;
                        assert_eq!(plain(&s), reference(&s), "{s:?}");
                    }
                    s[at] = filler;
                }
            }
        }
    }

    fn all(text: &str) -> Result<Read<'_>, FileProblem> {
        read(text.as_bytes(), Fields::ALL, &|_| true)
    }

    #[test]
    fn every_field_has_its_key_and_bit() {
        for (i, f) in Field::ALL.iter().enumerate() {
            assert_eq!(*f as usize, i);
            assert!(Fields::ALL.has(*f) && !Fields::of(&[]).has(*f));
        }
        // The names are serde's: a record with every key set reads the same both ways.
        let keys = [
            "eventVersion",
            "userIdentity",
            "eventTime",
            "eventSource",
            "eventName",
            "awsRegion",
            "sourceIPAddress",
            "userAgent",
            "errorCode",
            "errorMessage",
            "requestParameters",
            "responseElements",
            "additionalEventData",
            "requestID",
            "eventID",
            "readOnly",
            "resources",
            "eventType",
            "apiVersion",
            "managementEvent",
            "recipientAccountId",
            "serviceEventDetails",
            "sharedEventID",
            "vpcEndpointId",
            "vpcEndpointAccountId",
            "eventCategory",
            "addendum",
            "sessionCredentialFromConsole",
            "edgeDeviceDetails",
            "tlsDetails",
            "insightDetails",
        ];
        assert_eq!(keys.len(), Field::ALL.len());
        for (k, f) in keys.iter().zip(Field::ALL) {
            assert_eq!(Field::of(k.as_bytes()), Some(f), "{k}");
        }
        let record: String = keys
            .iter()
            .enumerate()
            .map(|(i, k)| match *k {
                "userIdentity" => format!("\"{k}\":{{\"arn\":\"a{i}\",\"sessionContext\":{{\"attributes\":{{}}}}}}"),
                _ if i % 3 == 0 => format!("\"{k}\":{{\"v\":[{i},\"}}\"]}}"),
                _ => format!("\"{k}\":\"v{i}\""),
            })
            .collect::<Vec<_>>()
            .join(",");
        let (file, one) = (format!("{{\"Records\":[{{{record}}}]}}"), format!("{{{record}}}"));
        let r = all(&file).unwrap();
        let serde: Record = serde_json::from_str(&one).unwrap();
        assert_eq!(format!("{:?}", r.records[0]), format!("{serde:?}"));
    }

    #[test]
    fn skipped_values_may_hold_anything_json_allows() {
        let text = r#" { "x": {"a": ["}", "]", "\"{", {"b": [[], {}]}]}, "Records" : [
            {"requestParameters": {"s": "a\\\"}]", "n": [1, -2.5e3, true, null]}, "eventName": "A\u0042", "eventTime": "t"},
            {"eventName": "C", "\u0065ventSource": "s"}
        ], "y": null } "#;
        let r = read(text.as_bytes(), Fields::of(&[Field::EventName, Field::EventSource]), &|_| true).unwrap();
        let names: Vec<&str> = r.records.iter().map(|r| r.event_name.as_ref().unwrap().as_str()).collect();
        assert_eq!(names, ["AB", "C"]);
        assert_eq!(r.records[1].event_source.as_ref().unwrap().as_str(), "s");
        assert!(r.records[0].event_time.is_none() && r.records[0].request_parameters.is_none());
        assert_eq!(all(text).unwrap().records[0].event_time.as_ref().unwrap().as_str(), "t");
    }

    #[test]
    fn a_wanted_value_that_does_not_fit_loses_its_record_only() {
        let text = r#"{"Records":[{"eventName":"A","userIdentity":"not an object"},7,{"eventName":"B"}]}"#;
        let r = all(text).unwrap();
        assert_eq!((r.records.len(), r.bad), (1, 2));
        // Not wanted: not parsed, so it fits.
        let r = read(text.as_bytes(), Fields::of(&[Field::EventName]), &|_| true).unwrap();
        assert_eq!((r.records.len(), r.bad), (2, 1));
    }

    #[test]
    fn only_the_identity_arn_reads_as_serde_reads_the_arn() {
        let text = r#"{"Records":[
            {"userIdentity":{"type":"IAMUser","arn":"a","sessionContext":{"x":[1,{"y":"}"}]}}},
            {"userIdentity":{"\u0061rn":"b","arn2":"c"}},
            {"userIdentity":{}},
            {"userIdentity":null},
            {"eventName":"none"},
            {"userIdentity":"not an object"},
            {"userIdentity":{"arn":5}}
        ]}"#;
        let r = read(text.as_bytes(), Fields::USER_ARN, &|_| true).unwrap();
        let arns: Vec<Option<&str>> = r.records.iter().map(Record::arn).collect();
        // A number is text to Athena's string columns, and to the record model.
        assert_eq!(arns, [Some("a"), Some("b"), None, None, None, Some("5")]);
        let identities: Vec<bool> = r.records.iter().map(|r| r.user_identity.is_some()).collect();
        assert_eq!(identities, [true, true, true, false, false, true]);
        assert!(r.records[0].identity_type().is_none());
        assert_eq!(r.bad, 1);
        // As a whole identity reads them.
        let whole = all(text).unwrap();
        assert_eq!(whole.records.iter().map(Record::arn).collect::<Vec<_>>(), arns);
        assert_eq!(whole.bad, 1);
        assert!(!Fields::USER_ARN.has(Field::UserIdentity) && Fields::USER_ARN.reads(Field::UserIdentity));
    }

    #[test]
    fn records_the_reader_refuses_are_counted_not_read() {
        let text = r#"{"Records":[{"eventName":"A","userIdentity":3},{"eventName":"B"},{"eventTime":"t"}]}"#;
        let r = read(text.as_bytes(), Fields::ALL, &|n| n == Some("B")).unwrap();
        assert_eq!((r.records.len(), r.bad, r.refused), (1, 0, 2));
    }

    /// What `read_each` hands over, as each record stands when it is handed over.
    fn handed(text: &str, fields: Fields) -> Result<Vec<String>, FileProblem> {
        let mut seen = Vec::new();
        read_each(text.as_bytes(), fields, &|_| true, &mut |r| {
            let t = |v: &Option<Text>| v.as_ref().map(|t| t.as_str().to_string());
            seen.push(format!("{:?} {:?} {:?}", t(&r.event_name), t(&r.error_code), r.arn()));
        })?;
        Ok(seen)
    }

    #[test]
    fn each_record_is_handed_over_without_the_values_of_the_one_before() {
        let text = r#"{"Records":[
            {"eventName":"A","errorCode":"Denied","userIdentity":{"arn":"x"}},
            {"eventName":"B"},
            {"eventName":"B2","userIdentity":{"type":"Root"}},
            {"eventName":"C","errorCode":"Set","userIdentity":"not an object"},
            {"eventName":"D"}]}"#;
        let want = [
            r#"Some("A") Some("Denied") Some("x")"#,
            "Some(\"B\") None None",
            // An identity without an ARN after one with: no ARN.
            "Some(\"B2\") None None",
            // C's identity is not an object: C is a bad record, and D has none of its values.
            "Some(\"D\") None None",
        ];
        for fields in [Fields::ALL, Fields::of(&[Field::EventName, Field::ErrorCode]).with(Fields::USER_ARN)] {
            assert_eq!(handed(text, fields).unwrap(), want);
        }
        // A key given twice keeps its last value.
        assert_eq!(
            handed(r#"{"Records":[{"eventName":"A","eventName":"B"}]}"#, Fields::ALL).unwrap(),
            ["Some(\"B\") None None"]
        );
    }

    #[test]
    fn a_file_broken_after_good_records_hands_over_none() {
        for text in [r#"{"Records":[{"eventName":"A"},{"eventName":"B"}"#, r#"{"Records":[{"eventName":"A"}]} x"#] {
            let mut calls = 0;
            let got = read_each(text.as_bytes(), Fields::ALL, &|_| true, &mut |_| calls += 1);
            assert!(got.is_err() && calls == 0, "{text}");
        }
    }

    #[test]
    fn broken_structure_is_a_problem_with_its_place() {
        let cases = [
            ("", "invalid JSON: empty"),
            (r#"{"Records":[{"eventName":"A"}"#, "invalid JSON"),
            (r#"{"Records":[{"a":{"b":[1}}]}"#, "mismatched bracket"),
            (r#"{"Records":[{"a":"unterminated}]}"#, "unterminated string"),
            (r#"{"Records":[{"a" 1}]}"#, "expected ':'"),
            (r#"{"Records":[{"a":1}]} x"#, "trailing characters"),
            (r#"{"Records":[{"a":1} {"b":2}]}"#, "expected ',' or ']'"),
            (r#"{"Records":[{"a":1,}]}"#, "expected a key"),
            ("[1,2,3]", "not a CloudTrail log file"),
            (r#"{"Records":{"a":1}}"#, "\"Records\" is not a list"),
            (r#"{"other":[]}"#, "no \"Records\""),
            (r#"{"digestStartTime":"x","logFiles":[]}"#, "digest"),
        ];
        for (text, want) in cases {
            let got = all(text).expect_err(text).0;
            assert!(got.contains(want), "{text}: {got}");
        }
        let deep = format!("{{\"Records\":[{{\"a\":{}{}}}]}}", "[".repeat(200), "]".repeat(200));
        assert!(all(&deep).unwrap_err().0.contains("nested too deeply"));
        assert!(read(&[b'{', 0xff, b'}'], Fields::ALL, &|_| true).unwrap_err().0.contains("not UTF-8"));
    }
}
