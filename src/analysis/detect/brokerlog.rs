//! Reading the spawned broker's telling log lines (`broker::is_telling`
//! kept them): which lines are about a client, which say why it was
//! closed, which deny a PUBLISH, which name a second holder of an id.

/// A character a client id may carry on either side of where it is found;
/// a hit bordered by one is part of a longer id ("dev1" in "dev10").
fn id_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_')
}

/// Whether a log line names this client id as a whole word.
pub fn mentions(line: &str, id: &str) -> bool {
    if id.is_empty() {
        return false;
    }
    line.match_indices(id).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + id.len()..].chars().next();
        !before.is_some_and(id_char) && !after.is_some_and(id_char)
    })
}

/// The lines about one client, in log order.
pub fn lines_about<'a>(log: Option<&'a [String]>, id: &'a str) -> impl Iterator<Item = &'a String> + 'a {
    log.unwrap_or_default().iter().filter(move |l| mentions(l, id))
}

/// Words with which a broker says why it closed a client for what it sent
/// (mosquitto: "Client x disconnected due to protocol error.", "… due to
/// oversize packet.", "Denied PUBLISH from x …", "Bad socket read/write on
/// client x: …").
const WHY: &[&str] =
    &["protocol error", "malformed", "oversize", "too large", "denied", "bad socket", "disconnected due to"];

/// A line that says why a client was closed.
pub fn says_why(line: &str) -> bool {
    let lower = line.to_lowercase();
    WHY.iter().any(|w| lower.contains(w))
}

/// A line in which the broker denied a PUBLISH (mosquitto, at `log_type debug`:
/// "Denied PUBLISH from <id> (d0, q1, r0, m1, 'topic', ... (40 bytes))").
pub fn is_publish_denial(line: &str) -> bool {
    line.to_lowercase().contains("denied publish")
}

/// The client a PUBLISH denial names (the word after "from").
pub fn denied_publisher(line: &str) -> Option<&str> {
    let at = line.to_lowercase().find("denied publish from ")? + "denied publish from ".len();
    line.get(at..)?.split_whitespace().next()
}

/// The broker says another connection with this id came up (mosquitto:
/// "Client <id> already connected, closing old connection.").
pub fn already_connected(log: Option<&[String]>, id: &str) -> bool {
    lines_about(log, id).any(|l| l.contains("already connected"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_found_only_as_a_whole_word() {
        assert!(mentions("1: Client dev1 disconnected.", "dev1"));
        assert!(!mentions("1: Client dev10 disconnected.", "dev1"));
        assert!(!mentions("1: Client xdev1 disconnected.", "dev1"));
        assert!(mentions("1: Bad socket read/write on client dev1: Unknown error.", "dev1"));
        assert!(mentions("1: Client dev1 closed its connection.", "dev1"));
        assert!(says_why("1: Client a disconnected due to oversize packet."));
        assert!(!says_why("1: Client a disconnected."));
        let denial = "1: Denied PUBLISH from pub-a (d0, q1, r0, m1, 't', ... (40 bytes))";
        assert!(is_publish_denial(denial));
        assert_eq!(denied_publisher(denial), Some("pub-a"));
        assert_eq!(denied_publisher("1: Client pub-a disconnected."), None);
    }
}
