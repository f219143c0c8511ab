//! A parse error in the user's words: an unknown key or value names the
//! closest one that exists ("unknown field `client` — did you mean
//! `clients`?") and lists the rest, instead of serde's bare list.

/// The message of a TOML parse error, with the closest key or value
/// suggested where it names an unknown one; any other message unchanged.
pub fn humane(message: &str) -> String {
    for (what, word) in [("unknown field `", "key"), ("unknown variant `", "value")] {
        let Some(rest) = message.strip_prefix(what) else { continue };
        let Some((given, tail)) = rest.split_once('`') else { continue };
        let known = known_words(tail);
        let noun = what.trim_start_matches("unknown ").trim_end_matches(" `");
        let listed = if known.is_empty() {
            format!("this table takes no {word}s")
        } else {
            format!("the {word}s here: {}", known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))
        };
        return match closest(given, &known) {
            Some(near) => format!("unknown {noun} `{given}` — did you mean `{near}`? ({listed})"),
            None => format!("unknown {noun} `{given}` ({listed})"),
        };
    }
    plain_types(message)
}

/// serde's Rust type names ("expected u32") in words.
fn plain_types(message: &str) -> String {
    let Some((head, expected)) = message.rsplit_once(", expected ") else { return message.to_string() };
    let words = match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more",
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        _ => return message.to_string(),
    };
    format!("{head}, expected {words}")
}

/// The back-quoted words of serde's ", expected one of `a`, `b`" or
/// ", expected `a` or `b`".
fn known_words(tail: &str) -> Vec<String> {
    tail.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// The known word nearest to `given` by edit distance (transpositions count
/// one), if it is near enough to be a slip: at most 2 edits, and fewer than
/// half the word's letters; or `given` is a prefix or an extension of it.
pub(super) fn closest<'a>(given: &str, known: &'a [String]) -> Option<&'a str> {
    let best = known.iter().map(|k| (strsim::damerau_levenshtein(given, k), k)).min_by_key(|(d, _)| *d)?;
    let near = best.0 <= 2 && best.0 * 2 < given.chars().count().max(2);
    let affix = |k: &String| given.len() >= 3 && (k.starts_with(given) || given.starts_with(k.as_str()));
    if near {
        return Some(best.1);
    }
    known.iter().find(|k| affix(k)).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_key_names_the_closest() {
        let m = "unknown field `client`, expected one of `name`, `clients`, `client_id`, `connect_rate`";
        assert_eq!(
            humane(m),
            "unknown field `client` — did you mean `clients`? (the keys here: `name`, `clients`, `client_id`, `connect_rate`)"
        );
        let m = "unknown field `clinets`, expected one of `name`, `clients`";
        assert!(humane(m).starts_with("unknown field `clinets` — did you mean `clients`?"), "{}", humane(m));
        let m = "unknown field `durration`, expected `duration` or `drain`";
        assert!(humane(m).starts_with("unknown field `durration` — did you mean `duration`?"), "{}", humane(m));
    }

    #[test]
    fn nothing_near_is_no_suggestion() {
        let m = "unknown field `zebra`, expected one of `name`, `clients`";
        assert_eq!(humane(m), "unknown field `zebra` (the keys here: `name`, `clients`)");
        let m = "unknown field `x`, there are no fields";
        assert_eq!(humane(m), "unknown field `x` (this table takes no keys)");
    }

    #[test]
    fn an_unknown_value_names_the_closest() {
        let m = "unknown variant `poison`, expected one of `constant`, `poisson`, `burst`";
        assert_eq!(
            humane(m),
            "unknown variant `poison` — did you mean `poisson`? (the values here: `constant`, `poisson`, `burst`)"
        );
    }

    #[test]
    fn rust_type_names_become_words() {
        assert_eq!(
            humane("invalid type: string \"1\", expected i64"),
            "invalid type: string \"1\", expected a whole number"
        );
        assert_eq!(
            humane("invalid type: string \"x\", expected u32"),
            "invalid type: string \"x\", expected a whole number, 0 or more"
        );
        assert_eq!(humane("invalid type: string \"x\", expected f64"), "invalid type: string \"x\", expected a number");
        assert_eq!(
            humane("invalid type: integer `3`, expected a string"),
            "invalid type: integer `3`, expected a string"
        );
    }

    #[test]
    fn other_messages_pass_unchanged() {
        assert_eq!(humane("qos must be 0, 1 or 2, not 3"), "qos must be 0, 1 or 2, not 3");
    }
}
