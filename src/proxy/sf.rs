//! A strict parser for Structured Field dictionaries (RFC 8941 §4.2.2), just enough for the
//! targeted cache-control fields of RFC 9213: member values are kept when they are integers,
//! strings or booleans, and any syntax error rejects the whole field, as RFC 8941 requires.

use http::header::GetAll;
use http::HeaderValue;

/// A dictionary member's value (parameters are validated and dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// `sf-integer`.
    Integer(i64),
    /// `sf-string`, unescaped.
    String(String),
    /// `sf-boolean`; a bare key is `true`.
    Boolean(bool),
    /// A decimal, token, byte sequence or inner list: valid, but no cache directive uses it.
    Other,
}

/// An RFC 9110 `tchar` (a token character), shared with the Cache-Control directive parser.
pub(super) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses the field lines of one dictionary field (lines are joined with commas, RFC 8941
/// §4.2). `None` on any syntax error. A repeated key keeps its last value.
pub fn parse_dictionary(values: GetAll<'_, HeaderValue>) -> Option<Vec<(String, Item)>> {
    let mut joined = Vec::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            joined.extend_from_slice(b", ");
        }
        joined.extend_from_slice(v.as_bytes());
    }
    let mut p = Parser { s: &joined, i: 0 };
    p.skip_sp();
    let mut out: Vec<(String, Item)> = Vec::new();
    while !p.done() {
        let key = p.key()?;
        let item = if p.eat(b'=') {
            p.member_value()?
        } else {
            p.parameters()?;
            Item::Boolean(true)
        };
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = item,
            None => out.push((key, item)),
        }
        p.skip_ows();
        if p.done() {
            break;
        }
        if !p.eat(b',') {
            return None;
        }
        p.skip_ows();
        if p.done() {
            // A trailing comma is an error.
            return None;
        }
    }
    Some(out)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    /// `key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`
    fn key(&mut self) -> Option<String> {
        let start = self.i;
        match self.peek() {
            Some(b'a'..=b'z' | b'*') => self.i += 1,
            _ => return None,
        }
        while matches!(
            self.peek(),
            Some(b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*')
        ) {
            self.i += 1;
        }
        Some(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn member_value(&mut self) -> Option<Item> {
        if self.peek() == Some(b'(') {
            self.inner_list()?;
            return Some(Item::Other);
        }
        let item = self.bare_item()?;
        self.parameters()?;
        Some(item)
    }

    fn inner_list(&mut self) -> Option<()> {
        self.i += 1;
        loop {
            self.skip_sp();
            if self.eat(b')') {
                return self.parameters();
            }
            self.bare_item()?;
            self.parameters()?;
            if !matches!(self.peek(), Some(b' ' | b')')) {
                return None;
            }
        }
    }

    fn parameters(&mut self) -> Option<()> {
        while self.eat(b';') {
            self.skip_sp();
            self.key()?;
            if self.eat(b'=') {
                self.bare_item()?;
            }
        }
        Some(())
    }

    fn bare_item(&mut self) -> Option<Item> {
        match self.peek()? {
            b'-' | b'0'..=b'9' => self.number(),
            b'"' => self.string(),
            b'?' => {
                self.i += 1;
                let b = match self.peek()? {
                    b'0' => false,
                    b'1' => true,
                    _ => return None,
                };
                self.i += 1;
                Some(Item::Boolean(b))
            }
            b':' => {
                self.i += 1;
                while let Some(c) = self.peek() {
                    self.i += 1;
                    match c {
                        b':' => return Some(Item::Other),
                        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' | b'=' => {}
                        _ => return None,
                    }
                }
                None
            }
            b'A'..=b'Z' | b'a'..=b'z' | b'*' => {
                self.i += 1;
                while matches!(self.peek(), Some(c) if is_tchar(c) || c == b':' || c == b'/') {
                    self.i += 1;
                }
                Some(Item::Other)
            }
            _ => None,
        }
    }

    /// `sf-integer` (at most 15 digits) or `sf-decimal` (12 integer, 3 fraction digits).
    fn number(&mut self) -> Option<Item> {
        let negative = self.eat(b'-');
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        let int_digits = self.i - start;
        if int_digits == 0 {
            return None;
        }
        if self.eat(b'.') {
            let frac_start = self.i;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
            let frac = self.i - frac_start;
            return (int_digits <= 12 && (1..=3).contains(&frac)).then_some(Item::Other);
        }
        if int_digits > 15 {
            return None;
        }
        let n: i64 = std::str::from_utf8(&self.s[start..self.i])
            .ok()?
            .parse()
            .ok()?;
        Some(Item::Integer(if negative { -n } else { n }))
    }

    fn string(&mut self) -> Option<Item> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            self.i += 1;
            match c {
                b'"' => return Some(Item::String(out)),
                b'\\' => {
                    let e = self.peek()?;
                    if e != b'"' && e != b'\\' {
                        return None;
                    }
                    self.i += 1;
                    out.push(e as char);
                }
                0x20..=0x7e => out.push(c as char),
                _ => return None,
            }
        }
    }
}
