//! Refused credentials, unreachable brokers and bad scenarios end with a
//! clear message, a report of what was measured, and the documented status.

mod support;
use midge::plan::{Overrides, Plan};
use midge::record::names::by_name;
use midge::runner::{self, RunError, RunOptions};
use support::*;

fn auth_scenario(protocol: &str, user_env: &str, pass_env: &str) -> String {
    format!(
        r#"
name = "auth-{protocol}"
duration = "1s"
protocol = "{protocol}"
[broker]
username_env = "{user_env}"
password_env = "{pass_env}"
[[group]]
name = "c"
clients = 4
publish = {{ topic = "auth/t", qos = 1, rate = 5.0 }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_counted_by_name_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("passwd");
    let status = std::process::Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(&pw)
        .args(["alice", "right"])
        .status()
        .expect("mosquitto_passwd (Debian package mosquitto)");
    assert!(status.success());
    let broker = mosquitto(&["allow_anonymous false", &format!("password_file {}", pw.display())]).await;
    std::env::set_var("MIDGE_AUTH_USER", "alice");
    std::env::set_var("MIDGE_AUTH_WRONG", "wrong");
    std::env::set_var("MIDGE_AUTH_RIGHT", "right");

    for (protocol, cause) in [("3.1.1", "not_authorized"), ("5", "not_authorized")] {
        let out = run_text(&auth_scenario(protocol, "MIDGE_AUTH_USER", "MIDGE_AUTH_WRONG"), &url(&broker)).await;
        let r = &out.report;
        assert_eq!(r.clients.connected_peak, 0);
        assert_eq!(
            by_name(&r.clients.connect_failures).get(cause),
            Some(&4),
            "{protocol}: {:?}",
            r.clients.connect_failures
        );
        assert_eq!(out.exit_code, 2, "no client could connect: bad input");
        assert!(r.error.as_deref().unwrap_or("").contains(cause), "{:?}", r.error);
        assert_eq!(r.verdict.as_str(), "fail");

        let ok = run_text(&auth_scenario(protocol, "MIDGE_AUTH_USER", "MIDGE_AUTH_RIGHT"), &url(&broker)).await;
        assert_eq!(ok.report.clients.connected_peak, 4);
        assert_eq!(ok.exit_code, 0, "{:?}", ok.report.expectations);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_broker_is_one_clear_error() {
    let port = midge::broker::free_port().unwrap();
    let file = parse(
        &auth_scenario("3.1.1", "MIDGE_UNSET_A", "MIDGE_UNSET_B")
            .replace("[broker]\nusername_env = \"MIDGE_UNSET_A\"\npassword_env = \"MIDGE_UNSET_B\"\n", ""),
    );
    let plan =
        Plan::build(&file, &Overrides { broker: Some(format!("mqtt://127.0.0.1:{port}")), ..Default::default() })
            .unwrap();
    match runner::run(plan, RunOptions::default()).await {
        Err(RunError::Unreachable { cause, .. }) => {
            assert!(cause.to_lowercase().contains("refused"), "{cause}")
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a run against a closed port must fail"),
    }
}

#[test]
fn missing_secret_environment_variable_is_named() {
    let file = parse(&auth_scenario("3.1.1", "MIDGE_NEVER_SET_USER", "MIDGE_NEVER_SET_PASS"));
    // Validation does not need the secrets; a run does, and names the variable.
    let plan = Plan::build(&file, &Overrides::default()).unwrap();
    let e = plan.resolve_secrets().unwrap_err().to_string();
    assert!(e.contains("MIDGE_NEVER_SET_USER"), "{e}");
}
