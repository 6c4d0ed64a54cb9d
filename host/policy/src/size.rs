//! Sizes in policy files: `512MiB`, `1GiB`, `64MB`, `4096` (bytes).

use std::fmt;

/// A number of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

const UNITS: &[(&str, u64)] = &[
    ("b", 1),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
];

impl ByteSize {
    pub const KIB: u64 = 1 << 10;
    pub const MIB: u64 = 1 << 20;
    pub const GIB: u64 = 1 << 30;

    pub fn bytes(self) -> u64 {
        self.0
    }

    /// Parses `512MiB`, `512 MiB`, `64MB`, `100` (units are case-insensitive; `MB` is 10^6,
    /// `MiB` 2^20).
    pub fn parse(text: &str) -> Result<ByteSize, String> {
        let text = text.trim();
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "{text:?} is not a size (a number of bytes, or like \"512MiB\", \"1GiB\", \"64MB\")"
            ));
        }
        let number: u64 = text[..digits]
            .parse()
            .map_err(|_| format!("{text:?} is too large"))?;
        let unit = text[digits..].trim_start().to_ascii_lowercase();
        let multiplier = if unit.is_empty() {
            1
        } else {
            UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, m)| *m)
                .ok_or_else(|| {
                    format!(
                        "{text:?}: unknown unit {:?} (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)",
                        &text[digits..].trim_start()
                    )
                })?
        };
        number
            .checked_mul(multiplier)
            .map(ByteSize)
            .ok_or_else(|| format!("{text:?} is too large"))
    }
}

impl fmt::Display for ByteSize {
    /// The largest unit that divides the size exactly, in the file's spelling (`512MiB`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: &[(&str, u64)] = &[
            ("TiB", 1 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
            ("TB", 1_000_000_000_000),
            ("GB", 1_000_000_000),
            ("MB", 1_000_000),
            ("KB", 1_000),
        ];
        if self.0 > 0 {
            for (name, unit) in SHOWN {
                if self.0.is_multiple_of(*unit) {
                    return write!(f, "{}{name}", self.0 / unit);
                }
            }
        }
        write!(f, "{}B", self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn units() {
        assert_eq!(ByteSize::parse("512MiB").unwrap().0, 512 << 20);
        assert_eq!(ByteSize::parse("1GiB").unwrap().0, 1 << 30);
        assert_eq!(ByteSize::parse("64MB").unwrap().0, 64_000_000);
        assert_eq!(ByteSize::parse("64 mb").unwrap().0, 64_000_000);
        assert_eq!(ByteSize::parse("4096").unwrap().0, 4096);
        assert_eq!(ByteSize::parse("7b").unwrap().0, 7);
    }

    #[test]
    fn errors() {
        assert!(ByteSize::parse("MiB").unwrap_err().contains("not a size"));
        assert!(
            ByteSize::parse("1 PiB")
                .unwrap_err()
                .contains("unknown unit \"PiB\"")
        );
        assert!(
            ByteSize::parse("99999999999TiB")
                .unwrap_err()
                .contains("too large")
        );
        assert!(ByteSize::parse("-1").is_err());
    }

    #[test]
    fn display_round_trips() {
        for text in ["512MiB", "1GiB", "64MB", "1000B", "1KiB", "3B", "0B"] {
            let size = ByteSize::parse(text).unwrap();
            assert_eq!(ByteSize::parse(&size.to_string()).unwrap(), size, "{text}");
        }
        assert_eq!(ByteSize(64 << 20).to_string(), "64MiB");
        assert_eq!(ByteSize(1000).to_string(), "1KB");
        assert_eq!(ByteSize(1001).to_string(), "1001B");
    }
}
