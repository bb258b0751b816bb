//! JSON as Python's `json` module reads it, written back as Python source.
//!
//! evalplus's files are written by `json.dumps`, which emits `NaN`, `Infinity` and
//! `-Infinity` for non-finite floats (MBPP+ has them) and integers of any size: neither
//! is standard JSON, and `serde_json` would reject the first and round the second. This
//! parser keeps every number as written and every string exactly (lone surrogates
//! included), so that the Python source made from a value evaluates to what
//! `json.loads` gives.

use serde_json::{Map, Number, Value as Json};

/// Nesting deeper than this is refused (Python's own parser gives up near 200 levels of
/// brackets anyway).
const MAX_DEPTH: usize = 500;

/// A string, exactly: text, or code points when it holds a lone surrogate (JSON's
/// `"\ud800"`), which Rust's `String` cannot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PyStr {
    Text(String),
    Points(Vec<u32>),
}

impl PyStr {
    /// The text, lone surrogates replaced by U+FFFD.
    pub(crate) fn lossy(&self) -> String {
        match self {
            PyStr::Text(s) => s.clone(),
            PyStr::Points(points) => points
                .iter()
                .map(|&p| char::from_u32(p).unwrap_or('\u{fffd}'))
                .collect(),
        }
    }

    fn points(&self) -> Vec<u32> {
        match self {
            PyStr::Text(s) => s.chars().map(u32::from).collect(),
            PyStr::Points(points) => points.clone(),
        }
    }
}

/// A value: what JSON gives, and the Python-only shapes evalplus's MBPP+ loader makes of
/// it (tuples, sets, `float(...)` and `complex(...)` calls).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Py {
    None,
    Bool(bool),
    /// An integer as written (`-12`, any size).
    Int(String),
    /// A float as written (`1.5`, `1e+100`, `-0.0`).
    Float(String),
    /// `NaN`, `Infinity` or `-Infinity`: Python source `float('nan')`, ...
    NonFinite(&'static str),
    Str(PyStr),
    List(Vec<Py>),
    /// A JSON object: string keys, in order (a repeated key is kept; Python keeps the
    /// last value, as `json.loads` does).
    Dict(Vec<(Py, Py)>),
    Tuple(Vec<Py>),
    Set(Vec<Py>),
    /// `float(x)` or `complex(x)`.
    Call(&'static str, Box<Py>),
}

/// Why a text is not JSON: a message and the 1-based column (in bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub(crate) column: usize,
    pub(crate) message: String,
}

/// Parses one JSON value (with Python's extensions) that fills `text` (surrounding
/// whitespace allowed).
pub(crate) fn parse(text: &str) -> Result<Py, ParseError> {
    let mut p = Parser {
        bytes: text.as_bytes(),
        pos: 0,
    };
    p.ws();
    let value = p.value(0)?;
    p.ws();
    if p.pos < p.bytes.len() {
        return Err(p.error("trailing characters"));
    }
    Ok(value)
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            column: self.pos + 1,
            message: message.into(),
        }
    }

    fn ws(&mut self) {
        while matches!(self.bytes.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Py, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        match self.bytes.get(self.pos) {
            None => Err(self.error("EOF while parsing a value")),
            Some(b'{') => {
                self.pos += 1;
                let mut pairs = Vec::new();
                self.ws();
                if self.eat("}") {
                    return Ok(Py::Dict(pairs));
                }
                loop {
                    self.ws();
                    if self.bytes.get(self.pos) != Some(&b'"') {
                        return Err(self.error("expected a string key"));
                    }
                    let key = self.string()?;
                    self.ws();
                    if !self.eat(":") {
                        return Err(self.error("expected `:`"));
                    }
                    self.ws();
                    let value = self.value(depth + 1)?;
                    pairs.push((Py::Str(key), value));
                    self.ws();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("}") {
                        return Ok(Py::Dict(pairs));
                    }
                    return Err(self.error("expected `,` or `}`"));
                }
            }
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat("]") {
                    return Ok(Py::List(items));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("]") {
                        return Ok(Py::List(items));
                    }
                    return Err(self.error("expected `,` or `]`"));
                }
            }
            Some(b'"') => Ok(Py::Str(self.string()?)),
            Some(b't') if self.eat("true") => Ok(Py::Bool(true)),
            Some(b'f') if self.eat("false") => Ok(Py::Bool(false)),
            Some(b'n') if self.eat("null") => Ok(Py::None),
            Some(b'N') if self.eat("NaN") => Ok(Py::NonFinite("nan")),
            Some(b'I') if self.eat("Infinity") => Ok(Py::NonFinite("inf")),
            Some(b'-') if self.eat("-Infinity") => Ok(Py::NonFinite("-inf")),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected a value")),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.bytes.get(self.pos), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Py, ParseError> {
        let start = self.pos;
        self.eat("-");
        let int_start = self.pos;
        let n = self.digits();
        if n == 0 {
            return Err(self.error("expected a digit"));
        }
        if n > 1 && self.bytes[int_start] == b'0' {
            return Err(ParseError {
                column: int_start + 1,
                message: "a number with a leading zero".into(),
            });
        }
        let mut float = false;
        if self.eat(".") {
            float = true;
            if self.digits() == 0 {
                return Err(self.error("expected a digit after `.`"));
            }
        }
        if matches!(self.bytes.get(self.pos), Some(b'e' | b'E')) {
            float = true;
            self.pos += 1;
            if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("expected a digit in the exponent"));
            }
        }
        let text = std::str::from_utf8(&self.bytes[start..self.pos])
            .expect("ASCII")
            .to_owned();
        Ok(if float {
            Py::Float(text)
        } else {
            Py::Int(text)
        })
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let Some(hex) = self.bytes.get(self.pos..self.pos + 4) else {
            return Err(self.error("EOF in a \\u escape"));
        };
        let text = std::str::from_utf8(hex).map_err(|_| self.error("a bad \\u escape"))?;
        let value = u32::from_str_radix(text, 16).map_err(|_| self.error("a bad \\u escape"))?;
        self.pos += 4;
        Ok(value)
    }

    fn string(&mut self) -> Result<PyStr, ParseError> {
        debug_assert_eq!(self.bytes[self.pos], b'"');
        self.pos += 1;
        let mut text = String::new();
        let mut points: Option<Vec<u32>> = None;
        loop {
            let run_start = self.pos;
            while let Some(&b) = self.bytes.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            let run = std::str::from_utf8(&self.bytes[run_start..self.pos]).expect("UTF-8 text");
            match &mut points {
                Some(points) => points.extend(run.chars().map(u32::from)),
                None => text.push_str(run),
            }
            let push = |text: &mut String, points: &mut Option<Vec<u32>>, p: u32| match points {
                Some(points) => points.push(p),
                None => match char::from_u32(p) {
                    Some(c) => text.push(c),
                    None => {
                        let mut all: Vec<u32> = text.chars().map(u32::from).collect();
                        all.push(p);
                        *points = Some(all);
                    }
                },
            };
            match self.bytes.get(self.pos) {
                None => return Err(self.error("EOF while parsing a string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(match points {
                        Some(points) => PyStr::Points(points),
                        None => PyStr::Text(text),
                    });
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let Some(&escape) = self.bytes.get(self.pos) else {
                        return Err(self.error("EOF while parsing a string"));
                    };
                    self.pos += 1;
                    let p = match escape {
                        b'"' => u32::from('"'),
                        b'\\' => u32::from('\\'),
                        b'/' => u32::from('/'),
                        b'b' => 8,
                        b'f' => 12,
                        b'n' => 10,
                        b'r' => 13,
                        b't' => 9,
                        b'u' => {
                            let first = self.hex4()?;
                            if (0xD800..0xDC00).contains(&first)
                                && self.bytes[self.pos..].starts_with(b"\\u")
                            {
                                let save = self.pos;
                                self.pos += 2;
                                let second = self.hex4()?;
                                if (0xDC00..0xE000).contains(&second) {
                                    0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                                } else {
                                    // Not a pair: the first stands alone; read the
                                    // second on its own next.
                                    self.pos = save;
                                    first
                                }
                            } else {
                                first
                            }
                        }
                        _ => {
                            self.pos -= 1;
                            return Err(self.error("an unknown escape"));
                        }
                    };
                    push(&mut text, &mut points, p);
                }
                Some(_) => return Err(self.error("a control character in a string")),
            }
        }
    }
}

impl Py {
    /// The value as `serde_json` holds it, for fields that are not inputs. Non-finite
    /// floats and Python-only shapes are refused; integers beyond 64 bits become floats;
    /// lone surrogates become U+FFFD.
    pub(crate) fn to_json(&self) -> Result<Json, String> {
        Ok(match self {
            Py::None => Json::Null,
            Py::Bool(b) => Json::Bool(*b),
            Py::Int(text) => {
                if let Ok(n) = text.parse::<u64>() {
                    Json::Number(n.into())
                } else if let Ok(n) = text.parse::<i64>() {
                    Json::Number(n.into())
                } else {
                    float_json(text)?
                }
            }
            Py::Float(text) => float_json(text)?,
            Py::NonFinite(name) => return Err(format!("a non-finite number ({name})")),
            Py::Str(s) => Json::String(s.lossy()),
            Py::List(items) => Json::Array(
                items
                    .iter()
                    .map(Py::to_json)
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Py::Dict(pairs) => {
                let mut map = Map::new();
                for (key, value) in pairs {
                    let Py::Str(key) = key else {
                        return Err("a key that is not a string".into());
                    };
                    map.insert(key.lossy(), value.to_json()?);
                }
                Json::Object(map)
            }
            Py::Tuple(_) | Py::Set(_) | Py::Call(..) => {
                return Err("a Python value that JSON cannot hold".into());
            }
        })
    }

    /// Writes the value as Python source that evaluates to it (ASCII only: anything
    /// else in a string is escaped).
    pub(crate) fn write_source(&self, out: &mut String) {
        match self {
            Py::None => out.push_str("None"),
            Py::Bool(true) => out.push_str("True"),
            Py::Bool(false) => out.push_str("False"),
            Py::Int(text) | Py::Float(text) => out.push_str(text),
            Py::NonFinite(name) => {
                out.push_str("float('");
                out.push_str(name);
                out.push_str("')");
            }
            Py::Str(s) => write_str(&s.points(), out),
            Py::List(items) => {
                out.push('[');
                write_items(items, out);
                out.push(']');
            }
            Py::Tuple(items) => {
                out.push('(');
                write_items(items, out);
                if items.len() == 1 {
                    out.push(',');
                }
                out.push(')');
            }
            Py::Set(items) if items.is_empty() => out.push_str("set()"),
            Py::Set(items) => {
                out.push('{');
                write_items(items, out);
                out.push('}');
            }
            Py::Dict(pairs) => {
                out.push('{');
                for (i, (key, value)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    key.write_source(out);
                    out.push_str(": ");
                    value.write_source(out);
                }
                out.push('}');
            }
            Py::Call(name, arg) => {
                out.push_str(name);
                out.push('(');
                arg.write_source(out);
                out.push(')');
            }
        }
    }

    /// [`Py::write_source`] into a new string.
    #[cfg(test)]
    pub(crate) fn source(&self) -> String {
        let mut out = String::new();
        self.write_source(&mut out);
        out
    }
}

fn float_json(text: &str) -> Result<Json, String> {
    let value: f64 = text.parse().map_err(|_| format!("a bad number {text}"))?;
    Number::from_f64(value)
        .map(Json::Number)
        .ok_or_else(|| format!("a number out of range ({text})"))
}

fn write_items(items: &[Py], out: &mut String) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        item.write_source(out);
    }
}

/// A Python string literal (single-quoted, ASCII): printable ASCII as is, the usual
/// escapes for `\\`, `'`, `\n`, `\r`, `\t`, and `\xNN`, `\uNNNN`, `\UNNNNNNNN` for the
/// rest (lone surrogates included).
fn write_str(points: &[u32], out: &mut String) {
    out.push('\'');
    for &p in points {
        match p {
            0x5c => out.push_str("\\\\"),
            0x27 => out.push_str("\\'"),
            0x0a => out.push_str("\\n"),
            0x0d => out.push_str("\\r"),
            0x09 => out.push_str("\\t"),
            0x20..=0x7e => out.push(char::from_u32(p).expect("ASCII")),
            0..=0xff => out.push_str(&format!("\\x{p:02x}")),
            0x100..=0xffff => out.push_str(&format!("\\u{p:04x}")),
            _ => out.push_str(&format!("\\U{p:08x}")),
        }
    }
    out.push('\'');
}

/// `tuple(x)` as Python computes it, for the JSON shapes: a list's items, a string's
/// characters, a dict's keys.
pub(crate) fn tuple_of(value: Py) -> Result<Py, String> {
    match value {
        Py::List(items) | Py::Tuple(items) => Ok(Py::Tuple(items)),
        Py::Str(s) => Ok(Py::Tuple(
            s.points()
                .into_iter()
                .map(|p| {
                    Py::Str(match char::from_u32(p) {
                        Some(c) => PyStr::Text(c.to_string()),
                        None => PyStr::Points(vec![p]),
                    })
                })
                .collect(),
        )),
        Py::Dict(pairs) => Ok(Py::Tuple(pairs.into_iter().map(|(k, _)| k).collect())),
        other => Err(format!("tuple() of {}", kind(&other))),
    }
}

fn kind(value: &Py) -> &'static str {
    match value {
        Py::None => "None",
        Py::Bool(_) => "a bool",
        Py::Int(_) => "an int",
        Py::Float(_) | Py::NonFinite(_) => "a float",
        Py::Str(_) => "a str",
        Py::List(_) => "a list",
        Py::Dict(_) => "a dict",
        Py::Tuple(_) => "a tuple",
        Py::Set(_) => "a set",
        Py::Call(..) => "a call",
    }
}

fn list_items(value: Py) -> Result<Vec<Py>, String> {
    match value {
        Py::List(items) | Py::Tuple(items) => Ok(items),
        other => Err(format!("expected a list, found {}", kind(&other))),
    }
}

fn arg(args: &[Py], i: usize) -> Result<Py, String> {
    args.get(i)
        .cloned()
        .ok_or_else(|| format!("expected at least {} arguments", i + 1))
}

fn all_tuples(value: Py) -> Py {
    match value {
        Py::List(items) | Py::Tuple(items) => {
            Py::Tuple(items.into_iter().map(all_tuples).collect())
        }
        other => other,
    }
}

/// The arguments of one MBPP+ input as evalplus's loader (`mbpp_deserialize_inputs` in
/// `evalplus/data/mbpp.py`, v0.3.1) turns them into Python values: tuples, sets and
/// complex numbers that JSON cannot hold, for the tasks listed there. `number` is the
/// task's number (`Mbpp/<number>`).
pub(crate) fn mbpp_deserialize(number: u64, args: Vec<Py>) -> Result<Vec<Py>, String> {
    let each = |args: Vec<Py>, f: &dyn Fn(Py) -> Result<Py, String>| -> Result<Vec<Py>, String> {
        args.into_iter().map(f).collect()
    };
    Ok(match number {
        2 | 116 | 132 | 143 | 222 | 261 | 273 | 394 | 399 | 421 | 424 | 429 | 470 | 560 | 579
        | 596 | 616 | 630 | 726 | 740 | 744 | 809 => each(args, &tuple_of)?,
        63 | 64 | 70 | 94 | 120 | 237 | 272 | 299 | 400 | 409 | 417 | 438 | 473 | 614 | 780 => {
            each(args, &|a| {
                Ok(Py::List(
                    list_items(a)?
                        .into_iter()
                        .map(tuple_of)
                        .collect::<Result<_, _>>()?,
                ))
            })?
        }
        75 | 413 | 444 | 753 => {
            let first = list_items(arg(&args, 0)?)?
                .into_iter()
                .map(tuple_of)
                .collect::<Result<_, _>>()?;
            vec![Py::List(first), arg(&args, 1)?]
        }
        106 | 750 => vec![arg(&args, 0)?, tuple_of(arg(&args, 1)?)?],
        115 => {
            let items = list_items(arg(&args, 0)?)?
                .into_iter()
                .map(|item| match item {
                    Py::List(inner) if !inner.is_empty() => Py::Set(inner),
                    _ => Py::Dict(Vec::new()),
                })
                .collect();
            vec![Py::List(items)]
        }
        124 => vec![
            Py::Call("float", Box::new(arg(&args, 0)?)),
            Py::Call("complex", Box::new(arg(&args, 1)?)),
        ],
        250 | 405 | 446 | 617 | 720 | 763 | 808 => vec![tuple_of(arg(&args, 0)?)?, arg(&args, 1)?],
        259 | 401 | 445 => each(args, &|a| {
            Ok(Py::Tuple(
                list_items(a)?
                    .into_iter()
                    .map(tuple_of)
                    .collect::<Result<_, _>>()?,
            ))
        })?,
        278 => {
            let items = list_items(arg(&args, 0)?)?
                .into_iter()
                .map(|item| match item {
                    Py::List(inner) => Py::Tuple(inner),
                    other => other,
                })
                .collect();
            vec![Py::Tuple(items)]
        }
        307 => vec![tuple_of(arg(&args, 0)?)?, arg(&args, 1)?, arg(&args, 2)?],
        722 => {
            let Py::Dict(pairs) = arg(&args, 0)? else {
                return Err("expected a dict as the first argument".into());
            };
            let first = pairs
                .into_iter()
                .map(|(k, v)| Ok((k, tuple_of(v)?)))
                .collect::<Result<_, String>>()?;
            let mut out = vec![Py::Dict(first)];
            out.extend(args.into_iter().skip(1));
            out
        }
        252 => vec![Py::Call("complex", Box::new(arg(&args, 0)?))],
        580 | 615 | 791 => args.into_iter().map(all_tuples).collect(),
        _ => args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(json: &str) -> String {
        parse(json).unwrap().source()
    }

    #[test]
    fn numbers_are_kept_as_written() {
        assert_eq!(
            src("[1, -2, 1.5, 1e+100, -0.0, 123456789012345678901234567890]"),
            "[1, -2, 1.5, 1e+100, -0.0, 123456789012345678901234567890]"
        );
        assert_eq!(
            src("[NaN, Infinity, -Infinity]"),
            "[float('nan'), float('inf'), float('-inf')]"
        );
        assert_eq!(src("[true, false, null]"), "[True, False, None]");
        assert!(parse("01").is_err());
        assert!(parse("1.").is_err());
        assert!(parse("-").is_err());
        assert!(parse("[1,]").is_err());
        assert!(parse("[1] x").is_err());
    }

    #[test]
    fn strings_are_exact_and_ascii() {
        assert_eq!(src(r#""it's \"q\" \\ \n\t""#), r#"'it\'s "q" \\ \n\t'"#);
        assert_eq!(src(r#""é€😀""#), r"'\xe9\u20ac\U0001f600'");
        assert_eq!(src(r#""\ud83d\ude00""#), r"'\U0001f600'");
        // A lone surrogate, as json.loads keeps it.
        assert_eq!(src(r#""a\ud800b""#), r"'a\ud800b'");
        assert_eq!(src(r#""\u0000\u007f""#), r"'\x00\x7f'");
        let Py::Str(s) = parse(r#""x\udc00""#).unwrap() else {
            panic!()
        };
        assert_eq!(s.lossy(), "x\u{fffd}");
    }

    #[test]
    fn containers() {
        assert_eq!(
            src(r#"{"a": [1, {"b": []}], "c": {}}"#),
            "{'a': [1, {'b': []}], 'c': {}}"
        );
        let t = tuple_of(parse("[1]").unwrap()).unwrap();
        assert_eq!(t.source(), "(1,)");
        assert_eq!(tuple_of(parse("[]").unwrap()).unwrap().source(), "()");
        assert_eq!(
            tuple_of(parse(r#""ab""#).unwrap()).unwrap().source(),
            "('a', 'b')"
        );
        assert_eq!(Py::Set(vec![]).source(), "set()");
        assert!(tuple_of(parse("3").unwrap()).is_err());
    }

    #[test]
    fn to_json_for_plain_fields() {
        let v = parse(r#"{"a": 1, "b": [1.5, "x"], "c": 18446744073709551616}"#).unwrap();
        assert_eq!(
            v.to_json().unwrap(),
            serde_json::json!({"a": 1, "b": [1.5, "x"], "c": 18446744073709551616.0})
        );
        assert!(parse("NaN").unwrap().to_json().is_err());
    }

    #[test]
    fn mbpp_inputs_deserialize_as_evalplus_does() {
        let args = |json: &str| match parse(json).unwrap() {
            Py::List(items) => items,
            _ => panic!(),
        };
        let show = |v: Vec<Py>| Py::List(v).source();
        assert_eq!(
            show(mbpp_deserialize(2, args("[[3, 4], [5]]")).unwrap()),
            "[(3, 4), (5,)]"
        );
        assert_eq!(
            show(mbpp_deserialize(63, args("[[[1, 2], [3, 4]]]")).unwrap()),
            "[[(1, 2), (3, 4)]]"
        );
        assert_eq!(
            show(mbpp_deserialize(75, args("[[[1, 2]], 3]")).unwrap()),
            "[[(1, 2)], 3]"
        );
        assert_eq!(
            show(mbpp_deserialize(106, args("[[1], [2, 3]]")).unwrap()),
            "[[1], (2, 3)]"
        );
        assert_eq!(
            show(mbpp_deserialize(115, args("[[[1, 2], [], 3]]")).unwrap()),
            "[[{1, 2}, {}, {}]]"
        );
        assert_eq!(
            show(mbpp_deserialize(124, args(r#"["1.5", "(1+2j)"]"#)).unwrap()),
            "[float('1.5'), complex('(1+2j)')]"
        );
        assert_eq!(
            show(mbpp_deserialize(250, args("[[1, 2], 2]")).unwrap()),
            "[(1, 2), 2]"
        );
        assert_eq!(
            show(mbpp_deserialize(259, args("[[[1, 2]], [[3]]]")).unwrap()),
            "[((1, 2),), ((3,),)]"
        );
        assert_eq!(
            show(mbpp_deserialize(278, args("[[1, [2, 3], 4]]")).unwrap()),
            "[(1, (2, 3), 4)]"
        );
        assert_eq!(
            show(mbpp_deserialize(307, args(r#"[["a"], 1, 2]"#)).unwrap()),
            "[('a',), 1, 2]"
        );
        assert_eq!(
            show(mbpp_deserialize(722, args(r#"[{"k": [1, 2]}, 3, 4]"#)).unwrap()),
            "[{'k': (1, 2)}, 3, 4]"
        );
        assert_eq!(
            show(mbpp_deserialize(252, args("[\"1+2j\"]")).unwrap()),
            "[complex('1+2j')]"
        );
        assert_eq!(
            show(mbpp_deserialize(580, args("[[1, [2, [3]]]]")).unwrap()),
            "[(1, (2, (3,)))]"
        );
        assert_eq!(
            show(mbpp_deserialize(3, args("[[1, 2]]")).unwrap()),
            "[[1, 2]]"
        );
        assert!(mbpp_deserialize(106, args("[[1]]")).is_err());
    }
}
