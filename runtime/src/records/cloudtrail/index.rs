//! Where a JSON text's strings and brackets are: the scanner's index, 64 bytes per entry.
//!
//! For each 64-byte block, two bit masks: the quotes that open or close a string (escaped
//! quotes left out), and the brackets outside strings. With them the scanner passes a string
//! or a whole nested value by looking for the next set bit, not at every byte.
//!
//! The bytes are classified sixteen at a time (`wide`: SSE2 on x86-64, NEON on arm64, which
//! every CPU of either has); the test checks the result against a byte-at-a-time reading. Escapes and strings are then resolved on the masks: a backslash that is not
//! itself escaped escapes the byte after it, and a byte is inside a string when an odd number
//! of quotes comes before it (a prefix XOR of the quote mask).

use super::scan::{CLOSE_BRACE, OPEN_BRACE, QUOTE};

/// The masks of one 64-byte block: bit `k` is byte `64 * block + k`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Block {
    /// Quotes that open or close a string.
    quotes: u64,
    /// `{`, `[`, `}` and `]` outside strings.
    brackets: u64,
}

/// A text's index: one [`Block`] (16 bytes) per 64 bytes of text.
#[derive(Debug)]
pub struct Index {
    blocks: Vec<Block>,
    /// The text ends inside a string.
    open_string: bool,
}

/// Bytes of one block by kind, before escapes and strings are resolved.
#[derive(Debug, Default, PartialEq, Eq)]
struct Raw {
    quote: u64,
    backslash: u64,
    bracket: u64,
}

impl Index {
    pub fn new(text: &[u8]) -> Index {
        let (whole, tail) = text.as_chunks::<64>();
        // The last partial block is padded with spaces, which are nothing to the masks.
        let mut last = [b' '; 64];
        last[..tail.len()].copy_from_slice(tail);
        let last: &[[u8; 64]] = if tail.is_empty() { &[] } else { std::slice::from_ref(&last) };
        let mut escaped = false;
        let mut in_string = 0u64;
        let mut block = |chunk: &[u8; 64]| {
            let raw = classify(chunk);
            let quotes = raw.quote & !escapes(raw.backslash, &mut escaped);
            let inside = prefix_xor(quotes) ^ in_string;
            // All ones when the next block starts inside a string.
            in_string = 0u64.wrapping_sub(inside >> 63);
            Block { quotes, brackets: raw.bracket & !inside }
        };
        // Two loops, not one over a chain of both: each is a counted loop into room made
        // for it at once.
        let mut blocks = Vec::with_capacity(whole.len() + last.len());
        blocks.extend(whole.iter().map(&mut block));
        blocks.extend(last.iter().map(&mut block));
        Index { blocks, open_string: in_string != 0 }
    }

    /// The first quote that opens or closes a string at or after byte `from`.
    #[cfg(test)]
    pub fn quote(&self, from: usize) -> Option<usize> {
        self.next(from, |b| b.quotes)
    }

    /// The quotes that open or close a string from byte `from` on, in order.
    pub fn quotes(&self, from: usize) -> Quotes<'_> {
        self.bits(from)
    }

    fn bits<const QUOTES: bool>(&self, from: usize) -> Bits<'_, QUOTES> {
        let mut b = Bits { index: self, at: 0, bits: 0 };
        b.seek(from);
        b
    }

    /// The first bracket outside strings at or after byte `from`.
    #[cfg(test)]
    pub fn bracket(&self, from: usize) -> Option<usize> {
        self.next(from, |b| b.brackets)
    }

    /// The brackets outside strings from byte `from` on, in order.
    pub fn brackets(&self, from: usize) -> Brackets<'_> {
        self.bits(from)
    }

    /// The text ends inside a string.
    pub fn ends_in_string(&self) -> bool {
        self.open_string
    }

    #[cfg(test)]
    fn next(&self, from: usize, mask: impl Fn(&Block) -> u64) -> Option<usize> {
        let mut at = from / 64;
        let mut bits = mask(self.blocks.get(at)?) & (!0u64 << (from % 64));
        while bits == 0 {
            at += 1;
            bits = mask(self.blocks.get(at)?);
        }
        Some(at * 64 + bits.trailing_zeros() as usize)
    }
}

/// The set bits of one of the index's masks, in order, from a byte on: the bits of the block
/// being read are kept, so each costs a bit cleared, not a lookup from its byte's position
/// (which would wait on the one before it). `QUOTES` picks the quote mask, else the brackets.
pub struct Bits<'x, const QUOTES: bool> {
    index: &'x Index,
    at: usize,
    bits: u64,
}

/// [`Index::brackets`]: a nested value is passed by its brackets.
pub type Brackets<'x> = Bits<'x, false>;

/// [`Index::quotes`]: keys and string values one after the other are the next two bits each.
pub type Quotes<'x> = Bits<'x, true>;

impl<const QUOTES: bool> Bits<'_, QUOTES> {
    #[inline]
    fn mask(b: &Block) -> u64 {
        if QUOTES {
            b.quotes
        } else {
            b.brackets
        }
    }

    /// The bits from byte `from` on (before or after where the reading was).
    pub fn seek(&mut self, from: usize) {
        self.at = from / 64;
        self.bits = self.index.blocks.get(self.at).map_or(0, |b| Self::mask(b) & (!0u64 << (from % 64)));
    }
}

impl<const QUOTES: bool> Iterator for Bits<'_, QUOTES> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.bits == 0 {
            self.at += 1;
            self.bits = Self::mask(self.index.blocks.get(self.at)?);
        }
        let k = self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(self.at * 64 + k)
    }
}

/// The bytes a backslash escapes. `carry` says the block's first byte is escaped (the one
/// before ended with an escaping backslash), and is set for the next block.
fn escapes(backslash: u64, carry: &mut bool) -> u64 {
    let mut escaped = u64::from(*carry);
    *carry = false;
    // An escaped backslash escapes nothing.
    let mut escaping = backslash & !escaped;
    while escaping != 0 {
        let at = escaping.trailing_zeros();
        if at == 63 {
            *carry = true;
            break;
        }
        let next = 2u64 << at;
        escaped |= next;
        escaping &= !(next | (1u64 << at));
    }
    escaped
}

/// Bit `k` is the XOR of bits `0..=k`: set from an opening quote up to its closing one.
fn prefix_xor(mut x: u64) -> u64 {
    for shift in [1, 2, 4, 8, 16, 32] {
        x ^= x << shift;
    }
    x
}

/// One block's quotes, backslashes and brackets, sixteen bytes at a time.
fn classify(chunk: &[u8; 64]) -> Raw {
    use wide::u8x16;
    let quote = u8x16::splat(QUOTE);
    let backslash = u8x16::splat(b'\\');
    // `[` and `]` are `{` and `}` without bit 0x20: one comparison each finds both kinds.
    let (case, open, close) = (u8x16::splat(0x20), u8x16::splat(OPEN_BRACE), u8x16::splat(CLOSE_BRACE));
    let mut raw = Raw::default();
    let (lanes, _) = chunk.as_chunks::<16>();
    for (k, lane) in lanes.iter().enumerate() {
        let v = u8x16::new(*lane);
        let bits = |m: u8x16| u64::from(m.to_bitmask()) << (16 * k);
        let folded = v | case;
        raw.quote |= bits(v.simd_eq(quote));
        raw.backslash |= bits(v.simd_eq(backslash));
        raw.bracket |= bits(folded.simd_eq(open) | folded.simd_eq(close));
    }
    raw
}

/// [`classify`], a byte at a time.
#[cfg(test)]
fn classify_bytes(chunk: &[u8; 64]) -> Raw {
    let mut raw = Raw::default();
    for (k, &b) in chunk.iter().enumerate() {
        let bit = 1u64 << k;
        match b {
            QUOTE => raw.quote |= bit,
            b'\\' => raw.backslash |= bit,
            b'{' | b'[' | b'}' | b']' => raw.bracket |= bit,
            _ => {}
        }
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The masks the slow way: a byte at a time, in and out of strings.
    fn reference(text: &[u8]) -> (Vec<usize>, Vec<usize>) {
        let (mut quotes, mut brackets) = (Vec::new(), Vec::new());
        let (mut inside, mut escaped) = (false, false);
        for (k, &b) in text.iter().enumerate() {
            if escaped {
                escaped = false;
                continue;
            }
            match b {
                b'\\' => escaped = true,
                QUOTE => {
                    quotes.push(k);
                    inside = !inside;
                }
                b'{' | b'[' | b'}' | b']' if !inside => brackets.push(k),
                _ => {}
            }
        }
        (quotes, brackets)
    }

    fn all(ix: &Index, find: impl Fn(&Index, usize) -> Option<usize>) -> Vec<usize> {
        std::iter::successors(find(ix, 0), |&k| find(ix, k + 1)).collect()
    }

    fn check(text: &[u8]) {
        let ix = Index::new(text);
        let (quotes, brackets) = reference(text);
        assert_eq!(all(&ix, Index::quote), quotes, "{}", String::from_utf8_lossy(text));
        assert_eq!(all(&ix, Index::bracket), brackets, "{}", String::from_utf8_lossy(text));
        assert_eq!(ix.ends_in_string(), quotes.len() % 2 == 1);
        // The bracket walk gives what a lookup from every position gives.
        for from in [0, 1, 63, 64, 65, text.len() / 2] {
            let walked: Vec<usize> = ix.brackets(from).collect();
            let looked_up: Vec<usize> = brackets.iter().copied().filter(|&k| k >= from).collect();
            assert_eq!(walked, looked_up, "from {from}");
            // So does the quote walk, and after a seek back or ahead.
            let mut q = ix.quotes(from);
            let walked: Vec<usize> = std::iter::from_fn(|| q.next()).collect();
            let looked_up: Vec<usize> = quotes.iter().copied().filter(|&k| k >= from).collect();
            assert_eq!(walked, looked_up, "from {from}");
            for to in [0, from / 2, from + 1, text.len()] {
                q.seek(to);
                let walked: Vec<usize> = std::iter::from_fn(|| q.next()).collect();
                let looked_up: Vec<usize> = quotes.iter().copied().filter(|&k| k >= to).collect();
                assert_eq!(walked, looked_up, "from {from}, then {to}");
            }
        }
    }

    #[test]
    fn strings_escapes_and_brackets_across_block_edges() {
        check(b"");
        check(br#"{"a":[1,"]",{"b":"\"}"}],"c\\":"\\\"["}"#);
        check("{\"é\":[\"ü]\"]}".as_bytes());
        // Escapes and strings that cross from one block into the next, at every offset.
        for pad in 0..70 {
            for tail in [r#""a\\\\\"[{"]"#, r#"["\\"]"#, r#""\""]"#, r#""{\\\\"}"#, "\"open [ {"] {
                check(format!("{}{tail}", " ".repeat(pad)).as_bytes());
                check(format!("{}\"{}\\{tail}", " ".repeat(pad), "x".repeat(pad)).as_bytes());
            }
        }
        // A run of backslashes ending at the last bit of a block escapes the next block's first byte.
        for run in 1..6 {
            check(format!("\"{}{}\"]\"", "a".repeat(63 - run), "\\".repeat(run)).as_bytes());
        }
    }

    #[test]
    fn both_classifiers_agree_on_every_byte() {
        let mut chunk = [0u8; 64];
        for start in (0..256).step_by(64) {
            for (k, b) in chunk.iter_mut().enumerate() {
                *b = (start + k) as u8;
            }
            assert_eq!(classify(&chunk), classify_bytes(&chunk));
        }
        let mixed: Vec<u8> = br#"{"a\\":["]\"}",{}],"b":"\u0022"}"#.iter().copied().cycle().take(640).collect();
        for chunk in mixed.as_chunks::<64>().0 {
            assert_eq!(classify(chunk), classify_bytes(chunk));
        }
    }

    #[test]
    fn every_real_cloudtrail_file_indexes_as_a_byte_by_byte_reading_does() {
        let files = crate::records::tests::real_cloudtrail_files();
        assert_eq!(files.len(), 1067);
        for (_, text) in &files {
            check(text);
        }
    }
}
