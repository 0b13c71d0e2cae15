// SPDX-License-Identifier: GPL-2.0

//! A strict little JSON parser for the tests (no crate needed): parses
//! the whole input or fails.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Value>),
    Obj(BTreeMap<String, Value>),
}

impl Value {
    pub fn get(&self, key: &str) -> &Value {
        match self {
            Value::Obj(m) => m.get(key).unwrap_or_else(|| panic!("no key {}", key)),
            _ => panic!("not an object: {:?}", self),
        }
    }
    pub fn arr(&self) -> &[Value] {
        match self {
            Value::Arr(a) => a,
            _ => panic!("not an array: {:?}", self),
        }
    }
    pub fn str(&self) -> &str {
        match self {
            Value::Str(s) => s,
            _ => panic!("not a string: {:?}", self),
        }
    }
    pub fn num(&self) -> f64 {
        match self {
            Value::Num(n) => *n,
            _ => panic!("not a number: {:?}", self),
        }
    }
}

pub fn parse(s: &str) -> Result<Value, String> {
    let mut p = P(s.trim_end().as_bytes(), 0);
    let v = p.value()?;
    if p.1 != p.0.len() {
        return Err(format!("trailing bytes at {}", p.1));
    }
    Ok(v)
}

struct P<'a>(&'a [u8], usize);

impl P<'_> {
    fn peek(&self) -> Option<u8> {
        self.0.get(self.1).copied()
    }
    fn eat(&mut self, lit: &str) -> Result<(), String> {
        if self.0[self.1..].starts_with(lit.as_bytes()) {
            self.1 += lit.len();
            Ok(())
        } else {
            Err(format!("expected {} at {}", lit, self.1))
        }
    }
    fn value(&mut self) -> Result<Value, String> {
        match self.peek().ok_or("unexpected end")? {
            b'n' => self.eat("null").map(|_| Value::Null),
            b't' => self.eat("true").map(|_| Value::Bool(true)),
            b'f' => self.eat("false").map(|_| Value::Bool(false)),
            b'"' => self.string().map(Value::Str),
            b'[' => {
                self.1 += 1;
                let mut out = Vec::new();
                if self.peek() == Some(b']') {
                    self.1 += 1;
                    return Ok(Value::Arr(out));
                }
                loop {
                    out.push(self.value()?);
                    match self.peek() {
                        Some(b',') => self.1 += 1,
                        Some(b']') => {
                            self.1 += 1;
                            return Ok(Value::Arr(out));
                        }
                        _ => return Err(format!("bad array at {}", self.1)),
                    }
                }
            }
            b'{' => {
                self.1 += 1;
                let mut out = BTreeMap::new();
                if self.peek() == Some(b'}') {
                    self.1 += 1;
                    return Ok(Value::Obj(out));
                }
                loop {
                    let k = self.string()?;
                    self.eat(":")?;
                    if out.insert(k.clone(), self.value()?).is_some() {
                        return Err(format!("duplicate key {}", k));
                    }
                    match self.peek() {
                        Some(b',') => self.1 += 1,
                        Some(b'}') => {
                            self.1 += 1;
                            return Ok(Value::Obj(out));
                        }
                        _ => return Err(format!("bad object at {}", self.1)),
                    }
                }
            }
            _ => {
                let start = self.1;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_digit() || b"-+.eE".contains(&c))
                {
                    self.1 += 1;
                }
                std::str::from_utf8(&self.0[start..self.1])
                    .unwrap()
                    .parse()
                    .map(Value::Num)
                    .map_err(|_| format!("bad number at {}", start))
            }
        }
    }
    fn string(&mut self) -> Result<String, String> {
        self.eat("\"")?;
        let mut out = Vec::new();
        loop {
            let c = self.peek().ok_or("unterminated string")?;
            self.1 += 1;
            match c {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    let e = self.peek().ok_or("bad escape")?;
                    self.1 += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'u' => {
                            let h = std::str::from_utf8(&self.0[self.1..self.1 + 4]).unwrap();
                            let c = char::from_u32(u32::from_str_radix(h, 16).unwrap()).unwrap();
                            self.1 += 4;
                            out.extend_from_slice(c.to_string().as_bytes());
                        }
                        _ => return Err("bad escape".into()),
                    }
                }
                c if c < 0x20 => return Err("control character in string".into()),
                c => out.push(c),
            }
        }
    }
}
