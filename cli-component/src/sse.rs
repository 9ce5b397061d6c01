//! Server-sent events (the `text/event-stream` responses of MCP's
//! streamable HTTP transport): the `data` of each event, as the bytes
//! arrive.

/// Splits a byte stream into events. Only `data` fields matter here; other
/// fields and comments are skipped.
#[derive(Debug, Default)]
pub struct Parser {
    /// The start of a line not yet complete.
    pending: Vec<u8>,
    /// The `data` lines of the event being read.
    data: Vec<String>,
}

impl Parser {
    /// Takes the next bytes; returns the data of each event they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches('\n').trim_end_matches('\r');
            if line.is_empty() {
                if !self.data.is_empty() {
                    events.push(self.data.join("\n"));
                    self.data.clear();
                }
            } else if let Some(value) = line.strip_prefix("data") {
                match value.strip_prefix(':') {
                    Some(v) => self.data.push(v.strip_prefix(' ').unwrap_or(v).to_string()),
                    None if value.is_empty() => self.data.push(String::new()),
                    None => {}
                }
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::Parser;

    #[test]
    fn events_split_across_chunks_and_line_endings() {
        let mut p = Parser::default();
        assert!(p.push(b"event: message\r\nid: 1\r\nda").is_empty());
        assert_eq!(
            p.push(b"ta: {\"a\":1}\r\n\r\n: comment\n\ndata:x\ndata: y\n"),
            vec!["{\"a\":1}"]
        );
        assert_eq!(p.push(b"\n"), vec!["x\ny"]);
    }

    #[test]
    fn fields_that_only_start_with_data_are_not_data() {
        let mut p = Parser::default();
        assert!(p.push(b"database: 1\n\n").is_empty());
        assert_eq!(p.push(b"data\n\n"), vec![""]);
    }
}
