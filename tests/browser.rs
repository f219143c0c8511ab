//! report.html as a person sees it: a quick start run's page opened in a real
//! browser (headless Chromium, Debian's `chromium`, which tests/run.sh
//! installs), screenshotted, and the screenshot checked — every plot the
//! page has drew its axes, its labels and its lines, and the page is neither
//! blank nor a smear — and the page's DOM as Chromium built it holds no
//! Markdown left as text (no pipe table, no `#` heading, no `**`).
//!
//! With MIDGE_SCREENSHOT=PATH it also writes the top of the page (title,
//! tables, the first plots; cropped to the text column) to PATH, which is how
//! the README's picture is made:
//!
//!   MIDGE_SCREENSHOT=docs/report-quickstart.png cargo test --test browser

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The browser window: wide as a laptop screen, and tall enough that the
/// whole "Over time" section (six plots under the tables) is in view.
const WINDOW: (u32, u32) = (1280, 4000);
/// How long Chromium may take to load and screenshot one local page.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

/// A plot as found in the screenshot: the corner where its axes meet and
/// how far they reach.
#[derive(Debug, Clone, Copy)]
struct Plot {
    /// The y axis' column and the x axis' row.
    x: u32,
    y: u32,
    /// The x axis' length (right of `x`) and the y axis' (above `y`).
    width: u32,
    height: u32,
}

#[test]
fn the_quickstart_report_renders_every_plot_in_chromium() {
    let browser = chromium();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("qs");
    let out = Command::new(env!("CARGO_BIN_EXE_midge"))
        // 5 s: enough seconds for the plots over time (fewer points are
        // said in words, not drawn).
        .args(["run", "scenarios/quickstart.toml", "-q", "--duration", "5s", "--out"])
        .arg(&out_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("midge binary runs");
    assert_eq!(out.status.code(), Some(0), "midge run: {}", String::from_utf8_lossy(&out.stderr));
    let html_path = out_dir.join("report.html");
    let html = std::fs::read_to_string(&html_path).expect("report.html written");
    let svgs = html.matches("<svg").count();
    assert!(svgs >= 4, "the quick start's report has its plots: {svgs} <svg> in report.html");

    let dom = dir.path().join("dom.html");
    headless(&browser, &html_path, dir.path(), &["--dump-dom".to_string()], &dom);
    no_markdown_left(&std::fs::read_to_string(&dom).unwrap());

    let shot = dir.path().join("report.png");
    let arg = format!("--screenshot={}", shot.display());
    headless(&browser, &html_path, dir.path(), &[arg], &dir.path().join("chromium.log"));
    assert!(shot.exists(), "{} wrote no screenshot", browser.display());
    let img = Image::read(&shot);
    assert_eq!((img.w, img.h), WINDOW, "the screenshot is the window's size");

    // Not blank, not a smear: a page of text, tables and line plots on white.
    let ink = img.px.iter().filter(|p| !is_white(**p)).count() as f64 / img.px.len() as f64;
    assert!((0.01..0.40).contains(&ink), "{:.1} % of the page is not white", ink * 100.0);
    // The verdict, in green, near the top.
    let green = img.count(0, 0, img.w, 200, |p| near(p, [0x1a, 0x7f, 0x37], 40));
    assert!(green > 50, "the green PASS in the title shows ({green} green pixels at the top)");

    let plots = find_plots(&img);
    eprintln!("plots on screen (y axis column, x axis row, width, height): {plots:?}");
    assert!(
        plots.len() >= svgs,
        "every <svg> in report.html shows as a plot with axes: {svgs} in the page, {} on screen: {plots:?}",
        plots.len()
    );
    for (i, p) in plots.iter().enumerate() {
        // Plotted, not just framed: the coloured lines fill more than the legend.
        let coloured = img.count(p.x + 2, p.y - p.height, p.width - 2, p.height - 2, is_coloured);
        assert!(coloured > 400, "plot {} at {p:?} has its lines: {coloured} coloured pixels", i + 1);
        // Labelled: tick labels left of the y axis and below the x axis, a
        // caption above.
        let y_labels = img.count(p.x.saturating_sub(55), p.y - p.height, 50, p.height, is_dark);
        assert!(y_labels > 100, "plot {} at {p:?} has y labels: {y_labels} dark pixels", i + 1);
        let x_labels = img.count(p.x, p.y + 4, p.width, 26, is_dark);
        assert!(x_labels > 100, "plot {} at {p:?} has x labels: {x_labels} dark pixels", i + 1);
        let caption = img.count(p.x, (p.y - p.height).saturating_sub(30), p.width, 28, is_dark);
        assert!(caption > 50, "plot {} at {p:?} has a caption: {caption} dark pixels", i + 1);
    }
    // One below the other, none drawn over another.
    for pair in plots.windows(2) {
        assert!(pair[1].y - pair[1].height > pair[0].y + 20, "plots overlap: {pair:?}");
    }

    if let Some(path) = std::env::var_os("MIDGE_SCREENSHOT") {
        // The text column (960 px wide, centred) from the top to just under
        // the third plot's x labels.
        let left = plots[0].x.saturating_sub(90).min((img.w - 1000) / 2);
        let bottom = plots.get(2).map_or(img.h, |p| (p.y + 40).min(img.h));
        img.crop(left, 0, 1000, bottom).write(Path::new(&path));
    }
}

/// Debian's `chromium` (or $CHROMIUM), or a failure that says how to get it.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("chromium"))
        .chain([PathBuf::from("/usr/bin/chromium")])
        .find(|p| p.is_file());
    on_path.unwrap_or_else(|| {
        panic!(
            "this test opens report.html in a real browser and needs Chromium, which is not installed: \
             run `apt-get install --no-install-recommends chromium` (Debian; tests/run.sh does it), \
             or set CHROMIUM to a Chromium or Chrome binary"
        )
    })
}

/// The text of the page as Chromium built it (tags, styles and plots
/// left out) holds no Markdown: every table, heading and emphasis of
/// report.md was rendered.
fn no_markdown_left(dom: &str) {
    // Plots and the style sheet are not text a person reads.
    let text = without(&without(dom, "<svg", "</svg>"), "<style", "</style>");
    let mut lines = Vec::new();
    for piece in text.split('<') {
        let body = piece.split_once('>').map_or(piece, |(_, b)| b);
        lines.extend(body.lines().map(str::trim).filter(|l| !l.is_empty()));
    }
    assert!(lines.len() > 50, "the page has its text: {lines:?}");
    for line in &lines {
        let raw_table = line.starts_with('|') || line.contains("|---") || line.contains("---|");
        assert!(!raw_table, "a Markdown table as text in the page: {line:?}");
        assert!(!line.starts_with('#'), "a Markdown heading as text in the page: {line:?}");
        assert!(!line.contains("**"), "Markdown emphasis as text in the page: {line:?}");
    }
    assert!(dom.contains("<h3>Messages</h3>") && dom.matches("<table>").count() >= 4, "report.md rendered");
}

/// `s` less every part from `open` to `close`.
fn without(s: &str, open: &str, close: &str) -> String {
    let (mut kept, mut rest) = (String::new(), s);
    while let Some(i) = rest.find(open) {
        kept.push_str(&rest[..i]);
        rest = rest[i..].find(close).map_or("", |j| &rest[i + j + close.len()..]);
    }
    kept + rest
}

/// Opens `html` headless in a fresh profile with `args` (a screenshot, a
/// DOM dump), its output into `out`; kills the browser (its process group,
/// which only it and its children are in) when it takes longer than
/// BROWSER_TIMEOUT.
fn headless(browser: &Path, html: &Path, scratch: &Path, args: &[String], out: &Path) {
    use std::os::unix::process::CommandExt;
    let log = scratch.join("chromium.err");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", scratch.join("chromium-profile").display()))
        .arg(format!("--window-size={},{}", WINDOW.0, WINDOW.1))
        .args(args)
        .arg(format!("file://{}", html.canonicalize().unwrap().display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let group = child.id() as i32;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > BROWSER_TIMEOUT {
            // SAFETY: a plain kill(2) of the group this test started.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Helpers it may have left behind (same group, started by it).
    // SAFETY: as above; ESRCH when none is left is fine.
    unsafe { libc::kill(-group, libc::SIGKILL) };
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    match status {
        None => panic!("{} did not open report.html ({args:?}) within {BROWSER_TIMEOUT:?}:\n{log}", browser.display()),
        Some(s) if !s.success() => panic!("{} failed on report.html ({args:?}, {s}):\n{log}", browser.display()),
        Some(_) => {}
    }
}

/// The screenshot as RGB pixels, row by row.
struct Image {
    w: u32,
    h: u32,
    px: Vec<[u8; 3]>,
}

impl Image {
    fn read(path: &Path) -> Image {
        let mut decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info().expect("the screenshot is a PNG");
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let channels = info.color_type.samples();
        assert!(channels >= 3, "a colour screenshot: {:?}", info.color_type);
        let px = buf[..info.buffer_size()].chunks_exact(channels).map(|c| [c[0], c[1], c[2]]).collect();
        Image { w: info.width, h: info.height, px }
    }

    fn at(&self, x: u32, y: u32) -> [u8; 3] {
        self.px[(y * self.w + x) as usize]
    }

    /// Pixels in the rectangle (clipped to the image) for which `f` holds.
    fn count(&self, x: u32, y: u32, w: u32, h: u32, f: impl Fn([u8; 3]) -> bool) -> usize {
        let (x1, y1) = ((x + w).min(self.w), (y + h).min(self.h));
        (y..y1).flat_map(|y| (x..x1).map(move |x| (x, y))).filter(|&(x, y)| f(self.at(x, y))).count()
    }

    fn crop(&self, x: u32, y: u32, w: u32, h: u32) -> Image {
        let (w, h) = (w.min(self.w - x), h.min(self.h - y));
        let px = (y..y + h).flat_map(|y| (x..x + w).map(move |x| (x, y))).map(|(x, y)| self.at(x, y)).collect();
        Image { w, h, px }
    }

    fn write(&self, path: &Path) {
        let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        let mut encoder = png::Encoder::new(file, self.w, self.h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::High);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&self.px.concat()).unwrap();
    }
}

/// Every place where a long dark horizontal line (an x axis) starts at the
/// foot of a long dark vertical one (its y axis), top to bottom.
fn find_plots(img: &Image) -> Vec<Plot> {
    let mut plots: Vec<Plot> = Vec::new();
    for y in 0..img.h {
        let mut x = 0;
        while x < img.w {
            if !is_dark(img.at(x, y)) {
                x += 1;
                continue;
            }
            let start = x;
            while x < img.w && is_dark(img.at(x, y)) {
                x += 1;
            }
            let width = x - start;
            if width < 400 {
                continue;
            }
            // The y axis: a dark column rising from near the run's left end
            // (the run may begin with the 0 tick left of the axis, or a pixel
            // right of it; antialiasing blurs the corner by a pixel).
            let rise = |cx: u32, from: u32| (0..=from).rev().take_while(|&cy| is_dark(img.at(cx, cy))).count() as u32;
            let (height, axis) = (start.saturating_sub(3)..(start + 10).min(x))
                .map(|cx| (rise(cx, y).max(rise(cx, y.saturating_sub(1)) + 1), cx))
                .max()
                .unwrap_or((0, start));
            if height < 120 {
                continue;
            }
            // An axis drawn two pixels thick is one plot, not two.
            if plots.iter().any(|p| p.x.abs_diff(axis) < 4 && p.y.abs_diff(y) < 4) {
                continue;
            }
            plots.push(Plot { x: axis, y, width: x - axis, height });
        }
    }
    plots
}

fn is_white(p: [u8; 3]) -> bool {
    p.iter().all(|&c| c > 245)
}

/// Axis lines and text: #222 text, and the black 1 px axes, which Chromium
/// draws as two grey (about 120) pixels; not the grid lines nor the #ccc
/// table borders.
fn is_dark(p: [u8; 3]) -> bool {
    p.iter().all(|&c| c < 160)
}

/// The plotted lines and legend marks: clearly not grey.
fn is_coloured(p: [u8; 3]) -> bool {
    let (max, min) = (p.iter().max().unwrap(), p.iter().min().unwrap());
    max - min > 60
}

fn near(p: [u8; 3], q: [u8; 3], by: u8) -> bool {
    p.iter().zip(q).all(|(a, b)| a.abs_diff(b) <= by)
}
