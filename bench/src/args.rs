//! A tiny command-line parser: `--name value` options and `--flag` switches.

use std::str::FromStr;

/// The arguments of the process, consumed option by option.
#[derive(Debug)]
pub struct Args {
    items: Vec<Option<String>>,
}

impl Args {
    /// The process arguments, without the program name.
    pub fn from_env() -> Args {
        Args::new(std::env::args().skip(1))
    }

    /// Arguments from any list (for tests).
    pub fn new(items: impl IntoIterator<Item = String>) -> Args {
        Args {
            items: items.into_iter().map(Some).collect(),
        }
    }

    /// True if `--name` was given (and consumes it).
    pub fn flag(&mut self, name: &str) -> bool {
        let mut found = false;
        for item in &mut self.items {
            if item.as_deref() == Some(name) {
                *item = None;
                found = true;
            }
        }
        found
    }

    /// The value after `--name`, parsed, if given (the last one wins).
    pub fn opt<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        let mut value = None;
        let mut i = 0;
        while i < self.items.len() {
            if self.items[i].as_deref() == Some(name) {
                self.items[i] = None;
                let raw = self
                    .items
                    .get_mut(i + 1)
                    .and_then(Option::take)
                    .ok_or_else(|| format!("{name} needs a value"))?;
                value = Some(
                    raw.parse()
                        .map_err(|_| format!("{name} {raw}: not a valid value"))?,
                );
                i += 1;
            }
            i += 1;
        }
        Ok(value)
    }

    /// The value after `--name`, or `default`.
    pub fn get<T: FromStr>(&mut self, name: &str, default: T) -> Result<T, String> {
        Ok(self.opt(name)?.unwrap_or(default))
    }

    /// Fails on any argument that no option consumed.
    pub fn finish(self) -> Result<(), String> {
        let rest: Vec<String> = self.items.into_iter().flatten().collect();
        if rest.is_empty() {
            Ok(())
        } else {
            Err(format!("unknown arguments: {}", rest.join(" ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Args {
        Args::new(s.split_whitespace().map(String::from))
    }

    #[test]
    fn options_flags_and_leftovers() {
        let mut a = args("--port 9 --text --size 16");
        assert!(a.flag("--text"));
        assert!(!a.flag("--raw"));
        assert_eq!(a.get("--port", 0u16), Ok(9));
        assert_eq!(a.get("--window", 1u32), Ok(1));
        assert_eq!(a.opt::<usize>("--size"), Ok(Some(16)));
        assert!(a.finish().is_ok());
        let mut a = args("--port x --what");
        assert!(a.get("--port", 0u16).is_err());
        assert!(a.finish().is_err());
        assert!(args("--port").opt::<u16>("--port").is_err());
    }
}
