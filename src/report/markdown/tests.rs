use crate::analysis::testkit;
use crate::record::vocab::LossWindow;

/// Each window a loss falls in is told in words, slow consumers too (report.md
/// once printed the raw key `slow_consumer` there).
#[test]
fn losses_are_told_in_words_for_every_window() {
    let plan = testkit::plan("name = \"t\"\n[[group]]\nname = \"pub\"\npublish = { topic = \"a\", rate = 10.0 }\n");
    let mut r = crate::analysis::analyse(&plan, &testkit::record(&plan));
    r.messages.lost = 935;
    r.messages.lost_by_window.insert(LossWindow::SlowConsumer, 932);
    r.messages.lost_by_window.insert(LossWindow::Steady, 3);
    let md = super::render(&r);
    assert!(
        md.contains(
            "**935 messages lost**: 932 owed to a slow consumer while it was behind on its reads; \
             3 in steady state (both ends connected).\n"
        ),
        "{md}"
    );
    assert!(!md.contains("932 slow_consumer"), "{md}");
}
