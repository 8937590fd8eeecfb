//! Writes one flat-ish JSON object, the report line of a benchmark binary.

use std::fmt::Write as _;

/// A JSON object being written, members in insertion order.
#[derive(Debug, Default)]
pub struct Object {
    text: String,
}

/// A value that can be a member of an [`Object`].
pub trait Value {
    /// Appends the JSON form of the value.
    fn write(&self, out: &mut String);
}

impl Value for u64 {
    fn write(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl Value for usize {
    fn write(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl Value for u32 {
    fn write(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl Value for f64 {
    fn write(&self, out: &mut String) {
        if self.is_finite() {
            let _ = write!(out, "{self}");
        } else {
            out.push_str("null");
        }
    }
}

impl Value for bool {
    fn write(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }
}

impl Value for str {
    fn write(&self, out: &mut String) {
        out.push('"');
        for c in self.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

impl Value for String {
    fn write(&self, out: &mut String) {
        self.as_str().write(out);
    }
}

impl<T: Value> Value for Option<T> {
    fn write(&self, out: &mut String) {
        match self {
            Some(v) => v.write(out),
            None => out.push_str("null"),
        }
    }
}

impl Value for Object {
    fn write(&self, out: &mut String) {
        out.push('{');
        out.push_str(&self.text);
        out.push('}');
    }
}

impl Object {
    /// An empty object.
    pub fn new() -> Object {
        Object::default()
    }

    /// Adds a member.
    pub fn set<V: Value + ?Sized>(&mut self, key: &str, value: &V) -> &mut Object {
        if !self.text.is_empty() {
            self.text.push(',');
        }
        key.write(&mut self.text);
        self.text.push(':');
        value.write(&mut self.text);
        self
    }

    /// The object as one line of JSON.
    pub fn finish(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 2);
        self.write(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_members_in_order() {
        let mut inner = Object::new();
        inner.set("p50", &12u64);
        let mut o = Object::new();
        o.set("a", "x\"y")
            .set("b", &1.5f64)
            .set("c", &None::<u64>)
            .set("d", &inner)
            .set("e", &f64::NAN)
            .set("f", &true);
        assert_eq!(
            o.finish(),
            r#"{"a":"x\"y","b":1.5,"c":null,"d":{"p50":12},"e":null,"f":true}"#
        );
    }
}
