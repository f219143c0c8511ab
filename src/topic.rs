//! Topic names and filters (MQTT 3.1.1 §4.7, 5.0 §4.7).
//!
//! Filters are validated, topics matched with the `$` rule (a wildcard at the
//! first level never matches a `$` topic); `shared` splits a
//! `$share/{group}/{filter}` filter into its group and filter.
//!
//! `from_emqtt_bench`: emqtt-bench's topic variables (`%i` the client's
//! number, `%c` its client id) in midge's placeholders (`{i}`, `{client}`),
//! the one place they are read.

/// Checks a subscription filter: `#` only as the whole last level, `+` only as a whole level.
pub fn validate_filter(filter: &str) -> Result<(), String> {
    if filter.is_empty() {
        return Err("filter must not be empty".into());
    }
    if filter.contains('\0') {
        return Err("filter must not contain NUL".into());
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i != levels.len() - 1) {
            return Err(format!("filter {filter:?}: '#' must be a whole level and the last one (e.g. \"a/#\")"));
        }
        if level.contains('+') && *level != "+" {
            return Err(format!("filter {filter:?}: '+' must be a whole level (e.g. \"a/+/c\")"));
        }
    }
    Ok(())
}

/// A shared subscription's filter, `$share/{group}/{filter}` (MQTT 5 §4.8.2;
/// mosquitto takes it on 3.1.1 too): the share group's name and the filter
/// its messages match. None for an ordinary filter.
pub fn shared(filter: &str) -> Option<(&str, &str)> {
    let rest = filter.strip_prefix("$share/")?;
    let (group, real) = rest.split_once('/')?;
    (!group.is_empty() && !real.is_empty()).then_some((group, real))
}

/// Whether a topic name matches a filter. A filter starting with a wildcard
/// does not match topics starting with '$' (MQTT 3.1.1 §4.7.2).
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut t = topic.split('/');
    for f in filter.split('/') {
        if f == "#" {
            return true;
        }
        match t.next() {
            Some(level) if f == "+" || f == level => continue,
            _ => return false,
        }
    }
    t.next().is_none()
}

/// An emqtt-bench topic or filter in midge's spelling: `%i` (the client's
/// number) becomes `{i}`, `%c` (its client id) `{client}`, `%%` a `%`.
/// `%u` (the user name) and any other `%` variable are refused by name.
pub fn from_emqtt_bench(template: &str) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 8);
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('i') => out.push_str("{i}"),
            Some('c') => out.push_str("{client}"),
            Some('%') => out.push('%'),
            Some('u') => return Err(format!("{template:?}: %u (the user name) is not supported; use %i or %c")),
            Some(other) => {
                return Err(format!("{template:?}: unknown variable %{other} (%i: client number, %c: client id)"))
            }
            None => return Err(format!("{template:?}: a lone % at the end (%i: client number, %c: client id)")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_follows_the_spec() {
        assert!(matches("a/+/c", "a/b/c"));
        assert!(!matches("a/+/c", "a/b/d"));
        assert!(matches("a/#", "a"));
        assert!(matches("a/#", "a/b/c"));
        assert!(matches("#", "a/b"));
        assert!(!matches("#", "$SYS/x"));
        assert!(matches("$SYS/#", "$SYS/x"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("a/b/c", "a/b"));
        assert!(matches("+", ""));
        assert!(matches("a/+", "a/"));
    }

    #[test]
    fn filters_are_validated() {
        assert!(validate_filter("a/#").is_ok());
        assert!(validate_filter("a/#/b").is_err());
        assert!(validate_filter("a+/b").is_err());
        assert!(validate_filter("").is_err());
    }

    #[test]
    fn shared_filters_name_their_group() {
        assert_eq!(shared("$share/g/s/#"), Some(("g", "s/#")));
        assert_eq!(shared("s/#"), None);
        assert_eq!(shared("$share/g"), None);
        assert!(!matches("$share/g/s/#", "s/1"), "the share prefix is no topic level");
        assert!(matches(shared("$share/g/s/#").unwrap().1, "s/1"));
    }

    #[test]
    fn emqtt_bench_variables_become_placeholders() {
        assert_eq!(from_emqtt_bench("bench/%i").unwrap(), "bench/{i}");
        assert_eq!(from_emqtt_bench("x/%c/%i/y").unwrap(), "x/{client}/{i}/y");
        assert_eq!(from_emqtt_bench("100%%/a").unwrap(), "100%/a");
        assert_eq!(from_emqtt_bench("plain/#").unwrap(), "plain/#");
        assert!(from_emqtt_bench("a/%u").unwrap_err().contains("%u"));
        assert!(from_emqtt_bench("a/%z").unwrap_err().contains("%z"));
        assert!(from_emqtt_bench("a/%").is_err());
    }
}
