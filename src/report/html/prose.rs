//! report.md's sections as HTML, for the end of report.html: the Markdown
//! parsed by pulldown-cmark (tables on), its title left out (the page has
//! its own), every heading one level down (under the page's "The whole
//! report"). Anything in the text that looks like HTML — a client id, a
//! topic or a broker's reason string can hold `<` — is shown as text, never
//! passed into the page.

use pulldown_cmark::{CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// `markdown` (a report.md) as an HTML fragment, without its `# ` title.
pub fn markdown_to_html(markdown: &str) -> String {
    let mut in_title = false;
    let events = Parser::new_ext(markdown, Options::ENABLE_TABLES).filter_map(|event| match event {
        Event::Start(Tag::Heading { level: HeadingLevel::H1, .. }) => {
            in_title = true;
            None
        }
        Event::End(TagEnd::Heading(HeadingLevel::H1)) => {
            in_title = false;
            None
        }
        _ if in_title => None,
        Event::Start(Tag::Heading { level, id, classes, attrs }) => {
            Some(Event::Start(Tag::Heading { level: lower(level), id, classes, attrs }))
        }
        Event::End(TagEnd::Heading(level)) => Some(Event::End(TagEnd::Heading(lower(level)))),
        // Text, escaped by the HTML writer like any other.
        Event::Html(s) | Event::InlineHtml(s) => Some(Event::Text(s)),
        Event::Start(Tag::HtmlBlock) | Event::End(TagEnd::HtmlBlock) => None,
        e => Some(e),
    });
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events.map(plain_links));
    html
}

/// One heading level down (h2 → h3; h6 stays).
fn lower(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 => HeadingLevel::H2,
        HeadingLevel::H2 => HeadingLevel::H3,
        HeadingLevel::H3 => HeadingLevel::H4,
        HeadingLevel::H4 => HeadingLevel::H5,
        HeadingLevel::H5 | HeadingLevel::H6 => HeadingLevel::H6,
    }
}

/// A link or image in the text (report.md writes none; a string from a
/// broker could) is shown as its text: the page fetches nothing and links
/// nowhere.
fn plain_links(event: Event<'_>) -> Event<'_> {
    match event {
        Event::Start(Tag::Link { .. }) | Event::End(TagEnd::Link) => Event::Text(CowStr::Borrowed("")),
        Event::Start(Tag::Image { dest_url, .. }) => Event::Text(dest_url),
        Event::End(TagEnd::Image) => Event::Text(CowStr::Borrowed("")),
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::markdown_to_html;

    #[test]
    fn tables_headings_and_emphasis_become_html() {
        let md = "# midge: t — PASS\n\nSome text.\n\n## Messages\n\n| | a | b |\n|---|---|---|\n| all | 1 | **FAIL** |\n\n### sub\n\n- `x` item\n";
        let html = markdown_to_html(md);
        assert!(!html.contains("midge: t"), "the title is left to the page: {html}");
        assert!(html.contains("<h3>Messages</h3>") && html.contains("<h4>sub</h4>"), "{html}");
        assert!(html.contains("<table>") && html.contains("<td><strong>FAIL</strong></td>"), "{html}");
        assert!(html.contains("<li><code>x</code> item</li>"), "{html}");
        assert!(!html.contains("|---|") && !html.contains("**") && !html.contains("## "), "{html}");
    }

    /// A client id or a broker's string with markup in it is shown, not run.
    #[test]
    fn markup_in_the_text_stays_text() {
        let md = "## Dropped connections\n\n- `c<1>` (g): refused (<script>alert(1)</script>) [x](http://e.com) ![i](http://e.com/i.png)\n\n<div>raw</div>\n";
        let html = markdown_to_html(md);
        assert!(!html.contains("<script") && !html.contains("<div") && !html.contains("href="), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;") && html.contains("&lt;div&gt;raw"), "{html}");
        assert!(html.contains("<code>c&lt;1&gt;</code>"), "{html}");
    }
}
