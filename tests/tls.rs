//! mqtts:// against mosquitto with a TLS listener: a CA and certificates made
//! by the test (rcgen), exact counts over TLS, the handshake inside connect
//! latency, and clear failures for an untrusted broker or a missing client
//! certificate.

mod support;
use midge::record::names::by_name;
use std::path::{Path, PathBuf};
use support::*;

struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "midge test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issue = |names: Vec<String>| {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(names).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = issue(vec!["localhost".into(), "127.0.0.1".into()]);
    let (client_cert, client_key) = issue(vec!["midge-client".into()]);
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    Pki {
        ca: write("ca.pem", &ca.pem()),
        server_cert: write("server.pem", &server_cert),
        server_key: write("server.key", &server_key),
        client_cert: write("client.pem", &client_cert),
        client_key: write("client.key", &client_key),
        _dir: dir,
    }
}

fn tls_listener(p: &Pki, require_client_cert: bool) -> Vec<String> {
    let mut lines =
        vec![format!("certfile {}", p.server_cert.display()), format!("keyfile {}", p.server_key.display())];
    if require_client_cert {
        lines.push(format!("cafile {}", p.ca.display()));
        lines.push("require_certificate true".into());
    }
    lines
}

fn scenario(tls: &str) -> String {
    format!(
        r#"
name = "tls"
duration = "2s"
drain = "3s"
[broker.tls]
{tls}
[[group]]
name = "sub"
clients = 2
subscribe = {{ filter = "tls/#", qos = 1 }}
[[group]]
name = "pub"
clients = 5
publish = {{ topic = "tls/{{client}}", qos = 1, rate = 50.0, payload = 64, count = 60 }}
"#
    )
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

async fn mosquitto_tls(extra: Vec<String>) -> midge::broker::Mosquitto {
    midge::broker::Mosquitto::launch(&extra, false).await.expect("mosquitto with a TLS listener")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_are_exact_over_tls_and_the_handshake_is_in_connect_latency() {
    let p = pki();
    let broker = mosquitto_tls(tls_listener(&p, false)).await;
    let url = format!("mqtts://{}", broker.addr);
    let out = run_text(&scenario(&format!("ca_file = {:?}", path(&p.ca))), &url).await;
    let r = &out.report;
    let m = &r.messages;
    assert_eq!((m.published, m.acked, m.expected, m.received, m.lost), (300, 300, 600, 600, 0), "{m:?}");
    assert_eq!(r.clients.connected_peak, 7);
    assert!(
        r.latency.connect.p50_us > r.latency.connect_tcp.p50_us,
        "CONNACK comes after the TLS handshake: {:?} vs {:?}",
        r.latency.connect,
        r.latency.connect_tcp
    );
    // Over TLS the kernel's stamp is the ciphertext's: midge stamps its own
    // reads, and the report says the receive delay was not measured.
    let own = &r.latency.own;
    assert_eq!(own.e2e_receive_time, midge::record::vocab::ReceiveTime::Midge, "{own:?}");
    assert_eq!(
        (own.receive_delay_measured, own.receive_delay_deliveries, r.latency.receive_delay.count),
        (false, 0, 0)
    );
    assert!(midge::report::markdown::render(r).contains("receive delay not measured"));
    assert_eq!(out.exit_code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_broker_and_a_missing_client_certificate_are_named() {
    let p = pki();
    // No ca_file: the public roots do not know the test's CA.
    let broker = mosquitto_tls(tls_listener(&p, false)).await;
    let url = format!("mqtts://{}", broker.addr);
    let out = run_text(&scenario(""), &url).await;
    let r = &out.report;
    assert_eq!(r.clients.connected_peak, 0);
    assert_eq!(
        by_name(&r.clients.connect_failures).get("tls_bad_certificate"),
        Some(&7),
        "{:?}",
        r.clients.connect_failures
    );
    assert_eq!(out.exit_code, 2, "nobody could connect");

    // A broker that requires client certificates: without one, refused;
    // with the CA-signed one, in.
    let broker = mosquitto_tls(tls_listener(&p, true)).await;
    let url = format!("mqtts://{}", broker.addr);
    let out = run_text(&scenario(&format!("ca_file = {:?}", path(&p.ca))), &url).await;
    assert_eq!(out.report.clients.connected_peak, 0, "{:?}", out.report.clients);
    assert_eq!(
        by_name(&out.report.clients.connect_failures).get("tls_alert_certificate_required"),
        Some(&7),
        "{:?}",
        out.report.clients.connect_failures
    );
    assert_eq!(out.exit_code, 2);
    let with_cert = format!(
        "ca_file = {:?}\ncert_file = {:?}\nkey_file = {:?}",
        path(&p.ca),
        path(&p.client_cert),
        path(&p.client_key)
    );
    let out = run_text(&scenario(&with_cert), &url).await;
    let m = &out.report.messages;
    assert_eq!((m.received, m.lost), (600, 0), "{m:?}");
    assert_eq!(out.exit_code, 0);
}

#[test]
fn proxy_faults_over_tls_are_refused_before_connecting() {
    let p = pki();
    let text = scenario(&format!("ca_file = {:?}", path(&p.ca)))
        + "[[fault]]\nat = \"1s\"\naction = \"cut\"\ngroup = \"sub\"\n";
    let overrides = midge::plan::Overrides { broker: Some("mqtts://127.0.0.1:1".into()), ..Default::default() };
    let Err(err) = midge::plan::Plan::build(&parse(&text), &overrides) else { panic!("a cut over TLS was accepted") };
    assert!(err.to_string().contains("cannot read TLS"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_scenario_counts_exactly_and_names_what_was_negotiated() {
    // spawn:mosquitto+tls: a throwaway CA signs mosquitto's certificate, and
    // the clients verify the broker against that CA.
    let out = run_shipped("tls", |t| t).await;
    let r = &out.report;
    let m = &r.messages;
    assert_eq!((m.published, m.acked, m.expected, m.received, m.lost), (300, 300, 600, 600, 0), "{m:?}");
    assert!(r.broker.url.starts_with("mqtts://127.0.0.1:"), "{}", r.broker.url);
    assert!(r.broker.config.as_deref().unwrap().contains("certfile"));
    let tls = r.broker.tls.as_ref().expect("broker.tls");
    assert!(!tls.insecure);
    assert_eq!(tls.server_name, "localhost");
    assert_eq!(tls.protocol_version.as_deref(), Some("TLSv1_3"));
    assert!(tls.cipher_suite.as_deref().is_some_and(|c| c.starts_with("TLS13_")), "{tls:?}");
    assert_eq!((r.latency.connect_tls.count, r.latency.connect_ws.count), (7, 0));
    let md = midge::report::markdown::render(r);
    assert!(md.contains("TLS negotiated TLSv1_3") && md.contains("| TLS handshake | 7 |"), "{md}");
    assert_eq!(out.exit_code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_takes_a_self_signed_broker_and_the_report_says_so() {
    // A certificate that signs itself: nothing could verify it.
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.path().join("self.pem"), dir.path().join("self.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let listener = vec![format!("certfile {}", cert_path.display()), format!("keyfile {}", key_path.display())];
    let broker = mosquitto_tls(listener).await;
    let url = format!("mqtts://{}", broker.addr);

    let out = run_text(&scenario("insecure = true"), &url).await;
    let r = &out.report;
    let m = &r.messages;
    assert_eq!((m.published, m.expected, m.received, m.lost), (300, 600, 600, 0), "{m:?}");
    let tls = r.broker.tls.as_ref().expect("broker.tls");
    assert!(tls.insecure);
    assert!(tls.protocol_version.is_some() && tls.cipher_suite.is_some(), "{tls:?}");
    let md = midge::report::markdown::render(r);
    assert!(md.contains("**Warning: the broker's TLS certificate was NOT verified**"), "{md}");
    let dir = tempfile::tempdir().unwrap();
    r.write_files(dir.path()).unwrap();
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("<p class=\"fail\">Warning: the broker's TLS certificate was NOT verified"), "html");
    assert_eq!(out.exit_code, 0);

    // Verified (the default), the same broker is refused and the cause named.
    let out = run_text(&scenario(""), &url).await;
    assert_eq!(by_name(&out.report.clients.connect_failures).get("tls_bad_certificate"), Some(&7));
    assert_eq!(out.exit_code, 2);
    let error = out.report.error.as_deref().unwrap_or_default();
    assert!(error.contains("no client could connect") && error.contains("tls_bad_certificate ×7"), "{error}");
    assert!(out.report.broker.tls.as_ref().is_some_and(|t| !t.insecure && t.protocol_version.is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_group_brings_its_own_client_certificate() {
    let p = pki();
    // mosquitto requires a certificate signed by the test's CA.
    let broker = mosquitto_tls(tls_listener(&p, true)).await;
    let url = format!("mqtts://{}", broker.addr);
    let (cert, key) = (path(&p.client_cert), path(&p.client_key));
    let text = scenario(&format!("ca_file = {:?}", path(&p.ca)))
        .replace("name = \"sub\"\n", &format!("name = \"sub\"\ntls = {{ cert_file = {cert:?}, key_file = {key:?} }}\n"))
        .replace(
            "name = \"pub\"\n",
            &format!("name = \"pub\"\ntls = {{ cert_file = {cert:?}, key_file = {key:?} }}\n"),
        )
        + "[[group]]\nname = \"anonymous\"\nclients = 1\nsubscribe = { filter = \"tls/#\", qos = 1 }\n";
    let out = run_text(&text, &url).await;
    let r = &out.report;
    let m = &r.messages;
    // The two groups with a certificate are in; the one without is refused by the broker.
    assert_eq!(r.clients.connected_peak, 7);
    assert_eq!(by_name(&r.clients.connect_failures).get("tls_alert_certificate_required"), Some(&1), "{:?}", r.clients);
    assert_eq!((m.published, m.received, m.lost), (300, 600, 0), "{m:?}");
    assert_eq!(out.exit_code, 1, "a connect failure fails the default expectation");

    // A group's tls is refused for a broker without TLS, with its place in the file.
    let plain = "name = \"x\"\n[broker]\nurl = \"mqtt://127.0.0.1:1883\"\n[[group]]\nname = \"g\"\ntls = { cert_file = \"c.pem\", key_file = \"k.pem\" }\n";
    let Err(e) = midge::scenario::ScenarioFile::parse(Path::new("g.toml"), plain) else { panic!("accepted") };
    assert!(e.to_string().starts_with("g.toml:6:7") && e.to_string().contains("needs a TLS broker"), "{e}");
}
