//! The text query language: a lexer and a recursive-descent parser into
//! [`Query`] values, with errors that point at the column.
//!
//! ```text
//! query    := "select" sel
//!           | ("dependents" | "dependencies") "of" key ["depth" N] ["via" kind {"," kind}] ["where" sel]
//!           | "impact" "of" key "." param ["depth" N]
//!           | "path" "from" sel "to" sel ["by" attribute] ["k" N] ["reverse"]
//!           | "on" "path" "from" sel "to" sel
//!           | "plan" ["where" sel]
//!           | "check" ["orphans" | "dangling" | "unreachable"] ["from" sel]
//! sel      := conj {"or" conj}
//! conj     := unary {"and" unary}
//! unary    := "not" unary | "(" sel ")" | atom
//! atom     := "all" | "key" "=" word | "kind" "=" word | "name" "~" word
//!           | "label" ["="] word ["=" word] | "edge" "=" word
//!           | ["param"] word op literal
//! op       := "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
//! literal  := number | "quoted string" | true | false | word
//! ```
//!
//! The grammar is LL(1) over a dozen keywords, so it is written by hand: a
//! parser-combinator crate would not make it shorter, and hand-written
//! errors name exactly what was expected where.

use std::fmt::Write as _;

use karma_core::{Key, Value};

use crate::error::{QueryError, Result};
use crate::query::{CheckKind, Query};
use crate::select::{CmpOp, Selector};
use crate::traverse::{Direction, Traversal};

const KEYWORDS: &[&str] = &[
    "select",
    "dependents",
    "dependencies",
    "of",
    "depth",
    "via",
    "where",
    "impact",
    "path",
    "from",
    "to",
    "by",
    "k",
    "reverse",
    "on",
    "plan",
    "check",
    "orphans",
    "dangling",
    "unreachable",
    "and",
    "or",
    "not",
    "all",
    "key",
    "kind",
    "name",
    "label",
    "edge",
    "param",
    "true",
    "false",
];

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Int(i64),
    Float(f64),
    Sym(&'static str),
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Self::Word(w) => format!("`{w}`"),
            Self::Str(s) => format!("string {s:?}"),
            Self::Int(i) => format!("number {i}"),
            Self::Float(f) => format!("number {f}"),
            Self::Sym(s) => format!("`{s}`"),
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '/' | '.' | ':' | '*' | '?' | '@' | '+')
}

/// Splits `text` into tokens with their 1-based columns.
fn lex(text: &str) -> Result<Vec<(Tok, usize)>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(QueryError::Parse { message: "unterminated string".into(), column: col }),
                    Some('"') => break,
                    Some('\\') => {
                        match chars.get(i + 1) {
                            Some('"') => s.push('"'),
                            Some('\\') => s.push('\\'),
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            _ => {
                                return Err(QueryError::Parse {
                                    message: "unknown escape (use \\\" \\\\ \\n or \\t)".into(),
                                    column: i + 1,
                                });
                            }
                        }
                        i += 2;
                        continue;
                    }
                    Some(&ch) => s.push(ch),
                }
                i += 1;
            }
            i += 1;
            out.push((Tok::Str(s), col));
            continue;
        }
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        if let Some(sym) = ["==", "!=", "<=", ">="].into_iter().find(|s| *s == two) {
            out.push((Tok::Sym(sym), col));
            i += 2;
            continue;
        }
        if let Some(sym) = ["=", "<", ">", "~", "(", ")", ","].into_iter().find(|s| s.starts_with(c)) {
            out.push((Tok::Sym(sym), col));
            i += 1;
            continue;
        }
        let numeric_start = c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if is_word_char(c) {
            let start = i;
            while i < chars.len() && is_word_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if numeric_start {
                if let Ok(n) = word.parse::<i64>() {
                    out.push((Tok::Int(n), col));
                    continue;
                }
                if let Ok(f) = word.parse::<f64>()
                    && f.is_finite()
                {
                    out.push((Tok::Float(f), col));
                    continue;
                }
            }
            out.push((Tok::Word(word), col));
            continue;
        }
        return Err(QueryError::Parse { message: format!("unexpected character {c:?}"), column: col });
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn column(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |(_, c)| *c)
    }

    fn error<T>(&self, expected: &str) -> Result<T> {
        let found = self.peek().map_or_else(|| "the end of the query".to_string(), Tok::describe);
        Err(QueryError::Parse { message: format!("expected {expected}, found {found}"), column: self.column() })
    }

    fn at_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_keyword(&mut self, kw: &str) -> bool {
        let hit = self.at_keyword(kw);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn keyword(&mut self, kw: &str) -> Result<()> {
        if self.eat_keyword(kw) { Ok(()) } else { self.error(&format!("`{kw}`")) }
    }

    fn eat_sym(&mut self, sym: &str) -> bool {
        let hit = matches!(self.peek(), Some(Tok::Sym(s)) if *s == sym);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn sym(&mut self, sym: &str) -> Result<()> {
        if self.eat_sym(sym) { Ok(()) } else { self.error(&format!("`{sym}`")) }
    }

    /// A bare word that is not a keyword, or a quoted string.
    fn word(&mut self, what: &str) -> Result<String> {
        match self.peek() {
            Some(Tok::Word(w)) if !is_keyword(w) => {
                let w = w.clone();
                self.pos += 1;
                Ok(w)
            }
            Some(Tok::Str(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => self.error(what),
        }
    }

    fn key(&mut self) -> Result<Key> {
        let column = self.column();
        let text = self.word("a component key")?;
        Key::parse(&text).map_err(|e| QueryError::Parse { message: e.to_string(), column })
    }

    fn number(&mut self, what: &str) -> Result<u32> {
        match self.peek() {
            Some(Tok::Int(n)) if u32::try_from(*n).is_ok() => {
                let n = *n as u32;
                self.pos += 1;
                Ok(n)
            }
            _ => self.error(what),
        }
    }

    fn literal(&mut self) -> Result<Value> {
        let value = match self.peek() {
            Some(Tok::Int(n)) => Value::Int(*n),
            Some(Tok::Float(f)) => Value::Float(*f),
            Some(Tok::Str(s)) => Value::String(s.into()),
            Some(Tok::Word(w)) if w == "true" => Value::Bool(true),
            Some(Tok::Word(w)) if w == "false" => Value::Bool(false),
            Some(Tok::Word(w)) if !is_keyword(w) => Value::String(w.into()),
            _ => return self.error("a value (number, string, true or false)"),
        };
        self.pos += 1;
        Ok(value)
    }

    fn op(&mut self) -> Result<CmpOp> {
        let op = match self.peek() {
            Some(Tok::Sym("=" | "==")) => CmpOp::Eq,
            Some(Tok::Sym("!=")) => CmpOp::Ne,
            Some(Tok::Sym("<")) => CmpOp::Lt,
            Some(Tok::Sym("<=")) => CmpOp::Le,
            Some(Tok::Sym(">")) => CmpOp::Gt,
            Some(Tok::Sym(">=")) => CmpOp::Ge,
            _ => return self.error("a comparison (=, !=, <, <=, >, >=)"),
        };
        self.pos += 1;
        Ok(op)
    }

    fn selector(&mut self) -> Result<Selector> {
        let mut left = self.conjunction()?;
        while self.eat_keyword("or") {
            left = left.or(self.conjunction()?);
        }
        Ok(left)
    }

    fn conjunction(&mut self) -> Result<Selector> {
        let mut left = self.unary()?;
        while self.eat_keyword("and") {
            left = left.and(self.unary()?);
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Selector> {
        if self.eat_keyword("not") {
            return Ok(self.unary()?.not());
        }
        if self.eat_sym("(") {
            let inner = self.selector()?;
            self.sym(")")?;
            return Ok(inner);
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Selector> {
        if self.eat_keyword("all") {
            return Ok(Selector::All);
        }
        if self.eat_keyword("key") {
            self.sym_eq()?;
            return Ok(Selector::Key(self.key()?));
        }
        if self.eat_keyword("kind") {
            self.sym_eq()?;
            return Ok(Selector::Kind(self.word("a kind")?));
        }
        if self.eat_keyword("name") {
            self.sym("~")?;
            return Ok(Selector::Name(self.word("a name pattern")?));
        }
        if self.eat_keyword("edge") {
            self.sym_eq()?;
            return Ok(Selector::EdgeKind(self.word("an edge kind")?));
        }
        if self.eat_keyword("label") {
            if self.eat_sym("=") || self.eat_sym("==") {
                return Ok(Selector::Label { name: self.word("a label name")?, value: None });
            }
            let name = self.word("a label name")?;
            let value = if self.eat_sym("=") || self.eat_sym("==") { Some(self.word("a label value")?) } else { None };
            return Ok(Selector::Label { name, value });
        }
        self.eat_keyword("param");
        let name = self.word("a selector (all, key, kind, name, label, edge, not, `(` or a param comparison)")?;
        let op = self.op()?;
        let value = self.literal()?;
        Ok(Selector::Param { name, op, value })
    }

    fn sym_eq(&mut self) -> Result<()> {
        if self.eat_sym("=") || self.eat_sym("==") { Ok(()) } else { self.error("`=`") }
    }

    fn query(&mut self) -> Result<Query> {
        let query = if self.eat_keyword("select") {
            Query::Select { select: self.selector()? }
        } else if self.at_keyword("dependents") || self.at_keyword("dependencies") {
            let direction = if self.eat_keyword("dependents") {
                Direction::Dependents
            } else {
                self.pos += 1;
                Direction::Dependencies
            };
            self.keyword("of")?;
            let of = self.key()?;
            let mut traversal = Traversal::default();
            if self.eat_keyword("depth") {
                traversal.max_depth = Some(self.number("a depth")?);
            }
            if self.eat_keyword("via") {
                let mut kinds = vec![self.word("an edge kind")?];
                while self.eat_sym(",") {
                    kinds.push(self.word("an edge kind")?);
                }
                traversal.edge_kinds = Some(kinds);
            }
            let filter = if self.eat_keyword("where") { Some(self.selector()?) } else { None };
            Query::Reach { direction, of, traversal, filter }
        } else if self.eat_keyword("impact") {
            self.keyword("of")?;
            let column = self.column();
            let text = self.word("a component key and param, like Database/orders.port")?;
            let Some((key, param)) = text.rsplit_once('.').filter(|(k, p)| !k.is_empty() && !p.is_empty()) else {
                return Err(QueryError::Parse {
                    message: format!("expected key.param, like Database/orders.port, found `{text}`"),
                    column,
                });
            };
            let key = Key::parse(key).map_err(|e| QueryError::Parse { message: e.to_string(), column })?;
            let max_depth = if self.eat_keyword("depth") { Some(self.number("a depth")?) } else { None };
            Query::Impact { of: key, param: param.into(), max_depth }
        } else if self.eat_keyword("path") {
            self.keyword("from")?;
            let from = self.selector()?;
            self.keyword("to")?;
            let to = self.selector()?;
            let weight = if self.eat_keyword("by") { Some(self.word("an edge attribute")?) } else { None };
            let k = if self.eat_keyword("k") {
                let column = self.column();
                let k = self.number("a number of paths")?;
                if k == 0 {
                    return Err(QueryError::Parse { message: "k must be at least 1".into(), column });
                }
                k
            } else {
                1
            };
            let direction = if self.eat_keyword("reverse") { Direction::Dependencies } else { Direction::Dependents };
            Query::Path { from, to, weight, k, direction }
        } else if self.eat_keyword("on") {
            self.keyword("path")?;
            self.keyword("from")?;
            let from = self.selector()?;
            self.keyword("to")?;
            let to = self.selector()?;
            Query::OnPath { from, to }
        } else if self.eat_keyword("plan") {
            let scope = if self.eat_keyword("where") { Some(self.selector()?) } else { None };
            Query::Plan { scope }
        } else if self.eat_keyword("check") {
            let kind = if self.eat_keyword("orphans") {
                CheckKind::Orphans
            } else if self.eat_keyword("dangling") {
                CheckKind::Dangling
            } else if self.eat_keyword("unreachable") {
                CheckKind::Unreachable
            } else {
                CheckKind::All
            };
            let entries = if matches!(kind, CheckKind::All | CheckKind::Unreachable) && self.eat_keyword("from") {
                Some(self.selector()?)
            } else {
                None
            };
            Query::Check { kind, entries }
        } else {
            return self.error("a query (select, dependents, dependencies, impact, path, on path, plan or check)");
        };
        if self.pos < self.toks.len() {
            return self.error("the end of the query");
        }
        Ok(query)
    }
}

fn is_keyword(w: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w))
}

/// Parses a query.
///
/// ```
/// use karma_query::{Query, parse};
///
/// let q = parse("dependents of Database/orders depth 3 where kind = Service")?;
/// assert_eq!(parse(&q.to_string())?, q);
/// let err = parse("path from kind = DataSource too label public").unwrap_err();
/// assert_eq!(err.to_string(), "expected `to`, found `too` at column 29");
/// # Ok::<(), karma_query::QueryError>(())
/// ```
pub fn parse(text: &str) -> Result<Query> {
    let toks = lex(text)?;
    let mut p = Parser { toks, pos: 0, end: text.chars().count() + 1 };
    p.query()
}

/// `text` as a token: bare when it lexes back as the same word, quoted
/// otherwise.
pub(crate) fn word(text: &str) -> String {
    let bare = !text.is_empty()
        && text.chars().all(is_word_char)
        && !is_keyword(text)
        && lex(text).is_ok_and(|t| t == [(Tok::Word(text.to_string()), 1)]);
    if bare { text.to_string() } else { quote(text) }
}

fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A value as a literal of the language (scalars parse back to the same
/// value; other values print as quoted JSON).
pub(crate) fn literal(value: &Value) -> String {
    match value {
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_finite() => {
            let mut s = String::new();
            let _ = write!(s, "{f:?}");
            s
        }
        Value::Bool(b) => b.to_string(),
        Value::String(s) => quote(s),
        other => quote(&other.to_json().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_examples_parse() {
        for text in [
            "dependents of Database/orders depth 3 where kind = Service",
            "impact of Database/orders.port",
            "path from kind = DataSource to label = public",
            "plan",
        ] {
            let q = parse(text).unwrap();
            assert_eq!(parse(&q.to_string()).unwrap(), q, "{text} → {q}");
        }
    }

    #[test]
    fn errors_point_at_the_column() {
        let err = |t: &str| match parse(t) {
            Err(QueryError::Parse { column, message }) => (column, message),
            other => panic!("{t}: {other:?}"),
        };
        assert_eq!(err("dependents Database/orders").0, 12);
        assert_eq!(err("impact of Database").0, 11);
        assert_eq!(err("plan where").0, 11);
        assert_eq!(err("select replicas >").0, 18);
        assert_eq!(err("select \"open").0, 8);
        assert_eq!(err("select kind = Service )").0, 23);
        assert_eq!(err("select kind = Service $").0, 23);
        assert!(err("frobnicate").1.contains("expected a query"));
    }

    #[test]
    fn words_quote_when_needed() {
        assert_eq!(word("orders"), "orders");
        assert_eq!(word("and"), "\"and\"");
        assert_eq!(word("12"), "\"12\"");
        assert_eq!(word("has space"), "\"has space\"");
        assert_eq!(word(""), "\"\"");
    }
}
