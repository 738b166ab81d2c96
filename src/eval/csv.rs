//! One CSV record per line (RFC 4180 quoting): fields holding a comma, a quote or a line break are
//! quoted, quotes doubled; line breaks inside a field are written as spaces so every record is one line.

/// Formats one record (no line terminator).
pub fn csv_line<S: AsRef<str>>(fields: &[S]) -> String {
    fields
        .iter()
        .map(|f| {
            let f = f.as_ref().replace(['\n', '\r'], " ");
            if f.contains([',', '"']) || f.starts_with(' ') || f.ends_with(' ') {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Splits one record written by [`csv_line`] (or any single-line RFC 4180 record) into its fields.
/// `None` when a quoted field is not closed.
pub fn parse_csv_line(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.trim_end_matches(['\n', '\r']).chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if at_start => quoted = true,
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (false, ',') => {
                fields.push(std::mem::take(&mut field));
                at_start = true;
                continue;
            }
            (_, c) => field.push(c),
        }
        at_start = false;
    }
    if quoted {
        return None;
    }
    fields.push(field);
    Some(fields)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_with_quoting() {
        let fields = ["terraces", "a,b", "say \"hi\"", "", "line\nbreak", "1.25"];
        let line = csv_line(&fields);
        assert_eq!(line, "terraces,\"a,b\",\"say \"\"hi\"\"\",,line break,1.25");
        let back = parse_csv_line(&line).unwrap();
        assert_eq!(back, vec!["terraces", "a,b", "say \"hi\"", "", "line break", "1.25"]);
        assert_eq!(parse_csv_line("\"open,1"), None);
        assert_eq!(parse_csv_line("x,").unwrap(), vec!["x", ""]);
    }
}
