//! SCIM filters (RFC 7644 §3.4.2.2): a pure parser, a printer whose output parses back to the
//! same tree, and evaluation against a resource as the API renders it (so every attribute a
//! resource shows can be filtered on).
//!
//! Precedence: `not` binds tightest, then `and`, then `or`; parentheses group. Attribute names
//! and operators are case-insensitive; string comparison is too, except for case-exact
//! attributes (`id`, `externalId`), per RFC 7643.

use std::fmt;

use serde_json::{Number, Value};

use crate::repr::input::field;

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Present(AttrPath),
    Compare(AttrPath, Op, CompValue),
    /// `emails[type eq "work"]`: some element of a multi-valued attribute matches.
    Has(AttrPath, Box<Filter>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// Schema URN prefix, if given (`urn:…:enterprise:2.0:User`).
    pub uri: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Str(String),
    Num(Number),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl From<ParseError> for crate::http::error::ApiError {
    fn from(e: ParseError) -> Self {
        crate::http::error::ApiError::BadRequest {
            detail: format!("invalid filter: {e}"),
            scim_type: "invalidFilter",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub const CORE_USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const CORE_GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Deepest nesting accepted; keeps recursion bounded on hostile input.
const MAX_DEPTH: usize = 64;
/// Most comparisons in one filter (or PATCH path). Evaluation, printing and dropping walk the
/// tree recursively and a chain of `and`s is as deep as it is long, so its length is bounded
/// too: far beyond what any IdP sends, far below what a thread's stack holds.
pub const MAX_TERMS: usize = 256;
/// Longest filter (or PATCH path) accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 8192;

pub fn parse(input: &str) -> Result<Filter, ParseError> {
    let tokens = lex(input)?;
    let mut p = Parser::new(tokens);
    let filter = p.or()?;
    match p.peek() {
        None => Ok(filter),
        Some(t) => Err(ParseError(format!("unexpected {} after a complete filter", t.describe()))),
    }
}

// ---------------------------------------------------------------- lexing

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Word(String),
    Str(String),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::LParen => "'('".into(),
            Token::RParen => "')'".into(),
            Token::LBracket => "'['".into(),
            Token::RBracket => "']'".into(),
            Token::Word(w) => format!("{w:?}"),
            Token::Str(s) => format!("string {s:?}"),
        }
    }
}

pub(crate) fn lex(input: &str) -> Result<Vec<Token>, ParseError> {
    if input.len() > MAX_FILTER_BYTES {
        return Err(ParseError(format!(
            "filter is {} bytes long; at most {MAX_FILTER_BYTES} are accepted",
            input.len()
        )));
    }
    let mut tokens = Vec::new();
    let bytes = input.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' | b')' | b'[' | b']' => {
                tokens.push(match b {
                    b'(' => Token::LParen,
                    b')' => Token::RParen,
                    b'[' => Token::LBracket,
                    _ => Token::RBracket,
                });
                i += 1;
            }
            b'"' => {
                let start = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(ParseError("unterminated string".into())),
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                let literal = input.get(start..i).ok_or_else(|| ParseError("bad string".into()))?;
                let s: String = serde_json::from_str(literal)
                    .map_err(|e| ParseError(format!("bad string {literal}: {e}")))?;
                tokens.push(Token::Str(s));
            }
            _ => {
                let start = i;
                while bytes.get(i).is_some_and(|b| !b" \t\n\r()[]\"".contains(b)) {
                    i += 1;
                }
                // Word boundaries are ASCII bytes, so the slice is on char boundaries.
                let word = input.get(start..i).ok_or_else(|| ParseError("bad word".into()))?;
                tokens.push(Token::Word(word.to_owned()));
            }
        }
    }
    Ok(tokens)
}

// ---------------------------------------------------------------- parsing

pub(crate) struct Parser {
    pub(crate) tokens: Vec<Token>,
    pub(crate) pos: usize,
    depth: usize,
    terms: usize,
}

impl Parser {
    pub(crate) fn new(tokens: Vec<Token>) -> Parser {
        Parser { tokens, pos: 0, depth: 0, terms: 0 }
    }

    pub(crate) fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn expect(&mut self, want: Token) -> Result<(), ParseError> {
        match self.next() {
            Some(t) if t == want => Ok(()),
            Some(t) => {
                Err(ParseError(format!("expected {}, found {}", want.describe(), t.describe())))
            }
            None => Err(ParseError(format!("expected {}, found the end", want.describe()))),
        }
    }

    fn descend(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError(format!("filter nested deeper than {MAX_DEPTH}")));
        }
        Ok(())
    }

    pub(crate) fn or(&mut self) -> Result<Filter, ParseError> {
        self.descend()?;
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ParseError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, ParseError> {
        if self.keyword("not") && self.tokens.get(self.pos + 1) == Some(&Token::LParen) {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.group()?)));
        }
        if self.peek() == Some(&Token::LParen) {
            return self.group();
        }
        self.attr_expression()
    }

    fn group(&mut self) -> Result<Filter, ParseError> {
        self.expect(Token::LParen)?;
        let inner = self.or()?;
        self.expect(Token::RParen)?;
        Ok(inner)
    }

    fn attr_expression(&mut self) -> Result<Filter, ParseError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(ParseError(format!(
                "filter has more than {MAX_TERMS} comparisons; at most {MAX_TERMS} are accepted"
            )));
        }
        let path = match self.next() {
            Some(Token::Word(w)) => parse_attr_path(&w)?,
            Some(t) => {
                return Err(ParseError(format!("expected an attribute, found {}", t.describe())));
            }
            None => return Err(ParseError("expected an attribute, found the end".into())),
        };
        if self.peek() == Some(&Token::LBracket) {
            if path.sub.is_some() {
                return Err(ParseError(format!("{path} cannot take a [filter]")));
            }
            self.pos += 1;
            let inner = self.or()?;
            self.expect(Token::RBracket)?;
            // `emails[type eq "work"].value eq "x"` (Entra's matching filter): some element
            // matches the bracket and the comparison both.
            let sub = match self.peek() {
                Some(Token::Word(w)) if w.starts_with('.') && w.len() > 1 => {
                    Some(w.trim_start_matches('.').to_owned())
                }
                _ => None,
            };
            let Some(sub) = sub else { return Ok(Filter::Has(path, Box::new(inner))) };
            self.pos += 1;
            let element = AttrPath { uri: None, name: sub, sub: None };
            let test = self.comparison(element)?;
            return Ok(Filter::Has(path, Box::new(Filter::And(Box::new(inner), Box::new(test)))));
        }
        self.comparison(path)
    }

    /// The operator and value after an attribute path.
    fn comparison(&mut self, path: AttrPath) -> Result<Filter, ParseError> {
        let op = match self.next() {
            Some(Token::Word(w)) => w,
            Some(t) => {
                return Err(ParseError(format!(
                    "expected an operator after {path}, found {}",
                    t.describe()
                )));
            }
            None => return Err(ParseError(format!("expected an operator after {path}"))),
        };
        if op.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let op = match op.to_ascii_lowercase().as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            _ => return Err(ParseError(format!("unknown operator {op:?}"))),
        };
        let value = match self.next() {
            Some(Token::Str(s)) => CompValue::Str(s),
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => CompValue::Bool(true),
                "false" => CompValue::Bool(false),
                "null" => CompValue::Null,
                _ => CompValue::Num(
                    w.parse::<Number>()
                        .map_err(|_| ParseError(format!("bad value {w:?}: quote strings")))?,
                ),
            },
            Some(t) => return Err(ParseError(format!("expected a value, found {}", t.describe()))),
            None => return Err(ParseError(format!("expected a value after {path} {op}"))),
        };
        // RFC 7644 §3.4.2.2: gt, ge, lt and le SHALL be an error on booleans and binary values.
        let ordering = matches!(op, Op::Gt | Op::Ge | Op::Lt | Op::Le);
        let binary = path.name.eq_ignore_ascii_case("x509Certificates");
        if ordering && (matches!(value, CompValue::Bool(_)) || binary) {
            return Err(ParseError(format!(
                "{op} cannot compare {path} with {value}: it has no order"
            )));
        }
        Ok(Filter::Compare(path, op, value))
    }
}

/// `[urn:…:]name[.sub]`.
pub fn parse_attr_path(word: &str) -> Result<AttrPath, ParseError> {
    let (uri, rest) =
        if word.len() > 4 && word.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
            match word.rfind(':') {
                Some(i) => (Some(word[..i].to_owned()), &word[i + 1..]),
                None => (None, word),
            }
        } else {
            (None, word)
        };
    let (name, sub) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    let valid = |s: &str| {
        let mut chars = s.chars();
        match chars.next() {
            Some(c) if c.is_ascii_alphabetic() => {
                chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            }
            Some('$') => s == "$ref",
            _ => false,
        }
    };
    if !valid(name) || sub.is_some_and(|s| !valid(s)) {
        return Err(ParseError(format!("invalid attribute path {word:?}")));
    }
    Ok(AttrPath { uri, name: name.to_owned(), sub: sub.map(str::to_owned) })
}

// ---------------------------------------------------------------- printing

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(uri) = &self.uri {
            write!(f, "{uri}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Co => "co",
            Op::Sw => "sw",
            Op::Ew => "ew",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Lt => "lt",
            Op::Le => "le",
        })
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Str(s) => write!(f, "{}", Value::String(s.clone())),
            CompValue::Num(n) => write!(f, "{n}"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Null => f.write_str("null"),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Logical children are parenthesised, so the printed form parses to this tree; but for
        // a left child of the same operator (a chain: the parser builds it left-deep), so that a
        // long chain prints flat instead of nested past the parser's depth limit.
        let child = |f: &mut fmt::Formatter<'_>, c: &Filter| match c {
            Filter::And(..) | Filter::Or(..) => write!(f, "({c})"),
            _ => write!(f, "{c}"),
        };
        match self {
            Filter::And(a, b) | Filter::Or(a, b) => {
                let (word, chain) = match self {
                    Filter::And(..) => (" and ", matches!(**a, Filter::And(..))),
                    _ => (" or ", matches!(**a, Filter::Or(..))),
                };
                if chain {
                    write!(f, "{a}")?
                } else {
                    child(f, a)?
                }
                f.write_str(word)?;
                child(f, b)
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::Present(p) => write!(f, "{p} pr"),
            Filter::Compare(p, op, v) => write!(f, "{p} {op} {v}"),
            Filter::Has(p, inner) => write!(f, "{p}[{inner}]"),
        }
    }
}

// ---------------------------------------------------------------- evaluation

pub(crate) fn is_core_urn(uri: &str) -> bool {
    uri.eq_ignore_ascii_case(CORE_USER_URN) || uri.eq_ignore_ascii_case(CORE_GROUP_URN)
}

/// The object an attribute path starts from: the resource, or its extension object.
fn base<'a>(resource: &'a Value, path: &AttrPath) -> Option<&'a Value> {
    match &path.uri {
        Some(uri) if !is_core_urn(uri) => field(resource, uri),
        _ => Some(resource),
    }
}

fn case_exact(path: &AttrPath) -> bool {
    path.sub.is_none()
        && (path.name.eq_ignore_ascii_case("id") || path.name.eq_ignore_ascii_case("externalId"))
}

/// Every value a path reaches: arrays are flattened, and a complex multi-valued attribute
/// without a sub-attribute stands for its elements' `value`.
fn values<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let Some(top) = base(resource, path).and_then(|b| field(b, &path.name)) else {
        return Vec::new();
    };
    let elems: Vec<&Value> = match top {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    elems
        .into_iter()
        .filter_map(|e| match (&path.sub, e) {
            (Some(sub), Value::Object(_)) => field(e, sub),
            (Some(_), _) => None,
            (None, Value::Object(_)) => field(e, "value"),
            (None, scalar) => Some(scalar),
        })
        .flat_map(|v| match v {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// Whether a filter reads attribute `name` (so the caller must load it).
pub fn mentions(filter: &Filter, name: &str) -> bool {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => mentions(a, name) || mentions(b, name),
        Filter::Not(inner) => mentions(inner, name),
        Filter::Present(p) | Filter::Compare(p, _, _) => p.name.eq_ignore_ascii_case(name),
        Filter::Has(p, _) => p.name.eq_ignore_ascii_case(name),
    }
}

/// The first value a path reaches (for sorting).
pub fn first_value<'a>(resource: &'a Value, path: &AttrPath) -> Option<&'a Value> {
    values(resource, path).into_iter().next()
}

pub fn matches(filter: &Filter, resource: &Value) -> bool {
    match filter {
        Filter::And(a, b) => matches(a, resource) && matches(b, resource),
        Filter::Or(a, b) => matches(a, resource) || matches(b, resource),
        Filter::Not(inner) => !matches(inner, resource),
        Filter::Present(path) => values(resource, path).iter().any(|v| match v {
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            _ => true,
        }),
        Filter::Has(path, inner) => match base(resource, path).and_then(|b| field(b, &path.name)) {
            Some(Value::Array(items)) => items.iter().any(|e| matches(inner, e)),
            Some(obj @ Value::Object(_)) => matches(inner, obj),
            _ => false,
        },
        Filter::Compare(path, Op::Ne, value) => {
            !matches(&Filter::Compare(path.clone(), Op::Eq, value.clone()), resource)
        }
        Filter::Compare(path, op, CompValue::Null) => {
            let present = !values(resource, path).is_empty();
            match op {
                Op::Eq => !present,
                _ => false,
            }
        }
        Filter::Compare(path, op, value) => {
            let exact = case_exact(path);
            values(resource, path).into_iter().any(|v| compare(v, *op, value, exact))
        }
    }
}

fn compare(actual: &Value, op: Op, expected: &CompValue, case_exact: bool) -> bool {
    match (actual, expected) {
        (Value::String(a), CompValue::Str(e)) => {
            let (a, e) = if case_exact {
                (a.clone(), e.clone())
            } else {
                (a.to_lowercase(), e.to_lowercase())
            };
            match op {
                Op::Eq => a == e,
                Op::Ne => a != e,
                Op::Co => a.contains(&e),
                Op::Sw => a.starts_with(&e),
                Op::Ew => a.ends_with(&e),
                Op::Gt | Op::Ge | Op::Lt | Op::Le => {
                    let ord = match (a.parse::<jiff::Timestamp>(), e.parse::<jiff::Timestamp>()) {
                        (Ok(x), Ok(y)) => x.cmp(&y),
                        _ => a.cmp(&e),
                    };
                    ordered(op, ord)
                }
            }
        }
        (Value::Number(a), CompValue::Num(e)) => match (a.as_f64(), e.as_f64()) {
            (Some(a), Some(e)) => match a.partial_cmp(&e) {
                Some(ord) => match op {
                    Op::Eq => ord.is_eq(),
                    Op::Ne => !ord.is_eq(),
                    Op::Gt | Op::Ge | Op::Lt | Op::Le => ordered(op, ord),
                    Op::Co | Op::Sw | Op::Ew => false,
                },
                None => false,
            },
            _ => false,
        },
        (Value::Bool(a), CompValue::Bool(e)) => match op {
            Op::Eq => a == e,
            Op::Ne => a != e,
            _ => false,
        },
        // IdPs store booleans as strings at times; compare them as booleans.
        (Value::String(a), CompValue::Bool(e)) => match op {
            Op::Eq => a.eq_ignore_ascii_case(if *e { "true" } else { "false" }),
            _ => false,
        },
        _ => false,
    }
}

fn ordered(op: Op, ord: std::cmp::Ordering) -> bool {
    match op {
        Op::Gt => ord.is_gt(),
        Op::Ge => ord.is_ge(),
        Op::Lt => ord.is_lt(),
        Op::Le => ord.is_le(),
        _ => false,
    }
}

/// An equality on an indexed attribute that every match must satisfy: (attribute, value).
/// `userName`, `externalId` and `emails`/`emails.value` qualify.
pub fn indexed_equality(filter: &Filter) -> Option<(IndexedAttr, &str)> {
    match filter {
        Filter::Compare(path, Op::Eq, CompValue::Str(v))
            if path.uri.as_deref().is_none_or(is_core_urn) =>
        {
            let name = path.name.to_ascii_lowercase();
            let sub = path.sub.as_deref().map(str::to_ascii_lowercase);
            match (name.as_str(), sub.as_deref()) {
                ("username", None) => Some((IndexedAttr::UserName, v)),
                ("externalid", None) => Some((IndexedAttr::ExternalId, v)),
                ("emails", None | Some("value")) => Some((IndexedAttr::Email, v)),
                _ => None,
            }
        }
        Filter::And(a, b) => indexed_equality(a).or_else(|| indexed_equality(b)),
        // `emails[type eq "work"].value eq "x"`: the users having that email, then the bracket.
        Filter::Has(path, inner)
            if path.name.eq_ignore_ascii_case("emails")
                && path.uri.as_deref().is_none_or(is_core_urn) =>
        {
            element_value_equality(inner).map(|v| (IndexedAttr::Email, v))
        }
        _ => None,
    }
}

/// Whether the filter is nothing but an indexed equality: the index lookup then finds exactly
/// the matches (userName and emails compare without case, as their indexes store them;
/// externalId exactly, as its index does), with nothing left to check.
pub fn is_exactly_indexed(filter: &Filter) -> bool {
    matches!(filter, Filter::Compare(..)) && indexed_equality(filter).is_some()
}

/// A filter an index walk answers exactly, in the index's order: `active eq true|false` (in
/// creation order), `meta.lastModified gt|ge "…"` (in modification order; times to the
/// millisecond, as stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexedRange {
    Active(bool),
    /// Modified at this Unix millisecond or later.
    ModifiedFrom(i64),
}

pub fn indexed_range(filter: &Filter) -> Option<IndexedRange> {
    let Filter::Compare(path, op, value) = filter else { return None };
    if !path.uri.as_deref().is_none_or(is_core_urn) {
        return None;
    }
    let name = path.name.to_ascii_lowercase();
    let sub = path.sub.as_deref().map(str::to_ascii_lowercase);
    match (name.as_str(), sub.as_deref(), op, value) {
        ("active", None, Op::Eq, CompValue::Bool(b)) => Some(IndexedRange::Active(*b)),
        ("meta", Some("lastmodified"), Op::Gt | Op::Ge, CompValue::Str(t)) => {
            let nanos = t.parse::<jiff::Timestamp>().ok()?.as_nanosecond();
            let (ms, rest) = (nanos.div_euclid(1_000_000), nanos.rem_euclid(1_000_000));
            // gt: the next millisecond; ge: this one, unless the time falls inside it.
            let from = match op {
                Op::Gt => ms + 1,
                _ => ms + i128::from(rest != 0),
            };
            i64::try_from(from).ok().map(IndexedRange::ModifiedFrom)
        }
        _ => None,
    }
}

/// A `sw` on userName or externalId that every match must satisfy: (attribute, prefix), for a
/// walk of that attribute's index.
pub fn indexed_prefix(filter: &Filter) -> Option<(IndexedAttr, &str)> {
    match filter {
        Filter::Compare(path, Op::Sw, CompValue::Str(v))
            if path.uri.as_deref().is_none_or(is_core_urn) && path.sub.is_none() =>
        {
            match path.name.to_ascii_lowercase().as_str() {
                "username" => Some((IndexedAttr::UserName, v)),
                "externalid" => Some((IndexedAttr::ExternalId, v)),
                _ => None,
            }
        }
        Filter::And(a, b) => indexed_prefix(a).or_else(|| indexed_prefix(b)),
        _ => None,
    }
}

/// `value eq "…"` inside a value path's filter (alone or in an `and`).
fn element_value_equality(filter: &Filter) -> Option<&str> {
    match filter {
        Filter::Compare(p, Op::Eq, CompValue::Str(v))
            if p.name.eq_ignore_ascii_case("value") && p.sub.is_none() && p.uri.is_none() =>
        {
            Some(v)
        }
        Filter::And(a, b) => element_value_equality(a).or_else(|| element_value_equality(b)),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexedAttr {
    UserName,
    ExternalId,
    Email,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn precedence_and_grouping() {
        let f = parse("a eq 1 or b eq 2 and c eq 3").unwrap();
        assert!(matches!(f, Filter::Or(_, ref r) if matches!(**r, Filter::And(..))));
        let g = parse("(a eq 1 or b eq 2) and c eq 3").unwrap();
        assert!(matches!(g, Filter::And(ref l, _) if matches!(**l, Filter::Or(..))));
        assert_eq!(parse(&g.to_string()).unwrap(), g);
        let n = parse("NOT (userName Eq \"x\")").unwrap();
        assert_eq!(n.to_string(), "not (userName eq \"x\")");
    }

    /// A long flat chain once overflowed a worker's stack (evaluation, printing and dropping are
    /// recursive): the parser bounds terms and bytes, and whatever it accepts is safe to walk on a
    /// thread with a quarter of a tokio worker's stack.
    #[test]
    fn hostile_filters_are_refused_or_safe_on_a_small_stack() {
        let chain = |n: usize, op: &str| vec!["userName pr"; n].join(&format!(" {op} "));
        let nested = |n: usize| format!("{}userName pr{}", "not (".repeat(n), ")".repeat(n));
        let in_brackets = format!("emails[{}]", chain(200, "or"));
        let worker = std::thread::Builder::new().stack_size(512 * 1024).spawn(move || {
            let long = chain(8000, "and");
            let err = parse(&long).unwrap_err();
            assert!(err.0.contains("at most 8192"), "{err}");
            let err = parse(&chain(MAX_TERMS + 1, "and").replace("userName", "u")).unwrap_err();
            assert!(err.0.contains("more than 256 comparisons"), "{err}");
            assert!(parse(&nested(MAX_DEPTH + 1)).is_err());
            let resource = serde_json::json!({"userName": "a", "emails": [{"value": "x"}]});
            for input in [
                chain(MAX_TERMS, "and").replace("userName", "u"),
                chain(MAX_TERMS, "or").replace("userName", "u"),
                nested(MAX_DEPTH - 2),
                in_brackets,
            ] {
                let f = parse(&input).unwrap();
                let _ = matches(&f, &resource);
                let _ = mentions(&f, "emails");
                assert_eq!(parse(&f.to_string()).unwrap(), f);
                drop(f);
            }
        });
        worker.unwrap().join().unwrap();
    }

    #[test]
    fn bad_filters_are_errors() {
        for bad in [
            "",
            "userName",
            "userName eq",
            "userName zz \"a\"",
            "(userName pr",
            "userName eq bob",
            "emails[type eq \"work\"",
            "a eq \"unterminated",
            "1abc pr",
            "a.b.c pr",
            "userName pr extra",
            "emails.value[type eq \"x\"]",
            "not userName pr",
            "and",
            ")",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
        let deep = format!("{}a pr{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn evaluation_follows_scim_case_rules() {
        let u = json!({"id": "AbC", "userName": "Alice@Example.com", "active": true,
            "emails": [{"value": "a@work.com", "type": "work"}, {"value": "a@home.com", "type": "home"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Ops"}});
        let m = |f: &str| matches(&parse(f).unwrap(), &u);
        assert!(m("username eq \"alice@example.com\""));
        assert!(!m("id eq \"abc\""));
        assert!(m("id eq \"AbC\""));
        assert!(m("emails[type eq \"work\" and value co \"work\"]"));
        assert!(!m("emails[type eq \"other\"]"));
        assert!(m("emails co \"home\""));
        assert!(m(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"ops\""
        ));
        assert!(m("urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"ALICE\""));
        assert!(m("active eq true and not (title pr)"));
        assert!(m("title eq null"));
    }

    #[test]
    fn indexed_equality_is_found_through_and() {
        let f = parse("active eq true and userName eq \"bob\"").unwrap();
        assert_eq!(indexed_equality(&f), Some((IndexedAttr::UserName, "bob")));
        assert_eq!(
            indexed_equality(&parse("userName eq \"a\" or userName eq \"b\"").unwrap()),
            None
        );
        assert_eq!(
            indexed_equality(&parse("emails.value eq \"x@y\"").unwrap()),
            Some((IndexedAttr::Email, "x@y"))
        );
    }
}
