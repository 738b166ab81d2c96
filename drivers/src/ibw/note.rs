//! The wave note as Asylum writes it: `Key:Value` lines separated by carriage returns. Values that
//! changed during the scan carry a suffix such as `2.0032@Line: 124` (the first value, then the line
//! where it changed); we keep the first number and that line. The raw text is kept verbatim.

use std::collections::BTreeMap;

/// One value of a note, as text and, where it is one, as a number.
#[derive(Debug, Clone, PartialEq)]
pub struct NoteValue {
    /// The value text after the first `:`, trimmed (including any `@Line:` suffix).
    pub text: String,
    /// The value as a number, if the text before any `@Line:` suffix is one (`NaN`, `inf` included).
    pub number: Option<f64>,
    /// For `2.0032@Line: 124`: the scan line (124) at which the value changed.
    pub changed_at_line: Option<u32>,
}

impl NoteValue {
    /// Parses a value text such as `2e-06`, `PFM Mode` or `2.0032@Line: 124`.
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        let (first, line) = match text.split_once("@Line:") {
            Some((first, rest)) => {
                let digits: String = rest.trim_start().chars().take_while(char::is_ascii_digit).collect();
                (first.trim(), digits.parse().ok())
            }
            None => (text, None),
        };
        Self { text: text.to_string(), number: first.parse::<f64>().ok(), changed_at_line: line }
    }
}

/// One `Key:Value` entry, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct NoteEntry {
    /// The key, trimmed (may contain spaces, e.g. "Initial ScanSize").
    pub key: String,
    /// Its value.
    pub value: NoteValue,
}

/// A parsed wave note: the raw text and its `Key:Value` entries.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Note {
    raw: String,
    entries: Vec<NoteEntry>,
}

impl Note {
    /// Parses `raw`: lines split on CR, LF or CRLF; each line with a `:` becomes an entry (key before
    /// the first `:`, value after it, both trimmed); lines without one, or with an empty key, are
    /// kept only in the raw text.
    pub fn parse(raw: &str) -> Self {
        let entries = raw
            .split(['\r', '\n'])
            .filter_map(|line| {
                let (key, value) = line.split_once(':')?;
                let key = key.trim();
                (!key.is_empty()).then(|| NoteEntry { key: key.to_string(), value: NoteValue::parse(value) })
            })
            .collect();
        Self { raw: raw.to_string(), entries }
    }

    /// Builds a note from key/value pairs, written as Asylum does (`Key: Value`, CR-separated).
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        let raw: String = pairs.into_iter().map(|(k, v)| format!("{}: {}\r", k.as_ref(), v.as_ref())).collect();
        Self::parse(&raw)
    }

    /// The note exactly as stored.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// All entries in file order (a key may repeat).
    pub fn entries(&self) -> &[NoteEntry] {
        &self.entries
    }

    /// True when the note has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `key`; when the key repeats, the last one (as Asylum's own readers do).
    pub fn get(&self, key: &str) -> Option<&NoteValue> {
        self.entries.iter().rev().find(|e| e.key == key).map(|e| &e.value)
    }

    /// The numeric value of `key`, if present and a number.
    pub fn number(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(|v| v.number)
    }

    /// Key → value text (last value wins for repeated keys).
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.entries.iter().map(|e| (e.key.clone(), e.value.text.clone())).collect()
    }
}

/// Formats `v` so that parsing the text gives back exactly `v`: plain digits for everyday
/// magnitudes, exponent notation (as Igor writes, e.g. `2e-6`) for very small or large ones.
pub fn format_number(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || !v.is_finite() || (1e-3..1e7).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cr_separated_asylum_lines() {
        let note = Note::parse("ScanSize: 2e-06\rImagingMode:PFM Mode\rScanRate: 2.0032@Line: 124\rno colon\r");
        assert_eq!(note.entries().len(), 3);
        assert_eq!(note.number("ScanSize"), Some(2e-6));
        assert_eq!(note.get("ImagingMode").map(|v| v.text.as_str()), Some("PFM Mode"));
        assert_eq!(note.get("ImagingMode").and_then(|v| v.number), None);
        let rate = note.get("ScanRate").cloned().unwrap_or_else(|| NoteValue::parse(""));
        assert_eq!(rate.number, Some(2.0032));
        assert_eq!(rate.changed_at_line, Some(124));
        assert_eq!(rate.text, "2.0032@Line: 124");
        assert!(note.raw().ends_with("no colon\r"));
    }

    #[test]
    fn repeated_key_gives_the_last_value_and_nan_is_a_number() {
        let note = Note::parse("Channel1DataType: 1\nX: NaN\r\nChannel1DataType: Height");
        assert_eq!(note.get("Channel1DataType").map(|v| v.text.as_str()), Some("Height"));
        assert!(note.number("X").is_some_and(f64::is_nan));
        assert_eq!(note.to_map().len(), 2);
    }

    #[test]
    fn numbers_round_trip_through_text() {
        for v in [2e-6, 1.0016, 0.0, -3.3685e-6, 1.0 / 3.0, 123456789.0, 7.843137254901961e-9, -0.5] {
            assert_eq!(format_number(v).parse::<f64>().ok(), Some(v), "{v}");
        }
        assert_eq!(format_number(2e-6), "2e-6");
        assert_eq!(format_number(1.0016), "1.0016");
    }
}
