//! deploy/kubernetes/, checked without a cluster: the manifests are YAML
//! with the fields an Indexed Job of shards and its merge need, agreeing
//! with each other; then the very commands their pods run — the shard
//! Job's args once per completion index, the merge Job's shell line — run
//! here as local processes against mosquitto, with the run ConfigMap's
//! values (the broker, a short duration and a near start time put in).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use yaml_rust2::{Yaml, YamlLoader};

fn manifest(name: &str) -> Yaml {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{name}: not YAML: {e}"));
    assert_eq!(docs.len(), 1, "{name}: one object per file");
    docs.remove(0)
}

fn s(y: &Yaml) -> String {
    match y {
        Yaml::String(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        other => panic!("expected a string, got {other:?}"),
    }
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec().unwrap_or_else(|| panic!("expected a list, got {y:?}")).iter().map(s).collect()
}

/// A ConfigMap's data.
fn config_map(name: &str) -> (String, BTreeMap<String, String>) {
    let y = manifest(name);
    assert_eq!(s(&y["kind"]), "ConfigMap", "{name}");
    let data = y["data"].as_hash().unwrap().iter().map(|(k, v)| (s(k), s(v))).collect();
    (s(&y["metadata"]["name"]), data)
}

/// Kubernetes' $(VAR) expansion in container args.
fn expand(arg: &str, env: &BTreeMap<String, String>) -> String {
    env.iter().fold(arg.to_string(), |a, (k, v)| a.replace(&format!("$({k})"), v))
}

/// The image's paths, mapped to this test's folders.
fn local(arg: &str, root: &Path) -> String {
    arg.replace("/scenario/", &format!("{}/scenario/", root.display()))
        .replace("/reports/", &format!("{}/reports/", root.display()))
}

#[test]
fn the_shard_job_is_an_indexed_job_whose_pieces_agree() {
    let job = manifest("shards-job.yaml");
    assert_eq!((s(&job["apiVersion"]), s(&job["kind"])), ("batch/v1".into(), "Job".into()));
    let spec = &job["spec"];
    assert_eq!(s(&spec["completionMode"]), "Indexed");
    let n = spec["completions"].as_i64().unwrap();
    assert_eq!(spec["parallelism"].as_i64(), Some(n), "every shard runs at once");
    let pod = &spec["template"]["spec"];
    assert_eq!(s(&pod["restartPolicy"]), "Never");
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let c = &pod["containers"][0];
    let args = strings(&c["args"]);
    let shards_at = args.iter().position(|a| a == "--shards").expect("--shards N");
    assert_eq!(args[shards_at + 1], n.to_string(), "--shards equals completions");
    // Mounts name the pod's volumes; volumes name the other manifests' objects.
    let volumes: BTreeMap<String, &Yaml> =
        pod["volumes"].as_vec().unwrap().iter().map(|v| (s(&v["name"]), v)).collect();
    for m in c["volumeMounts"].as_vec().unwrap() {
        assert!(volumes.contains_key(&s(&m["name"])), "mount {} has no volume", s(&m["name"]));
    }
    let (scenario_cm, scenario) = config_map("scenario.yaml");
    let (run_cm, run) = config_map("run-config.yaml");
    assert_eq!(s(&volumes["scenario"]["configMap"]["name"]), scenario_cm);
    assert!(args.contains(&"/scenario/scenario.toml".to_string()) && scenario.contains_key("scenario.toml"));
    assert_eq!(s(&c["envFrom"][0]["configMapRef"]["name"]), run_cm);
    for var in ["BROKER_URL", "RUN_ID", "START_AT", "DURATION"] {
        assert!(run.contains_key(var), "run-config.yaml lacks {var}");
    }
    // Prometheus finds each shard by the usual annotations, on the port it serves.
    let notes = &spec["template"]["metadata"]["annotations"];
    assert_eq!(s(&notes["prometheus.io/scrape"]), "true");
    assert_eq!(s(&notes["prometheus.io/path"]), "/metrics");
    let port = s(&notes["prometheus.io/port"]);
    let ports: Vec<String> = c["ports"].as_vec().unwrap().iter().map(|p| s(&p["containerPort"])).collect();
    assert!(ports.contains(&port), "the container exposes {port}: {ports:?}");
    let at = args.iter().position(|a| a == "--prometheus").expect("--prometheus ADDR");
    assert_eq!(args[at + 1], "$(PROMETHEUS_ADDR)");
    assert_eq!(run["PROMETHEUS_ADDR"], format!("0.0.0.0:{port}"), "the pod's every address, on the annotated port");
    let pvc = manifest("reports-pvc.yaml");
    assert_eq!(s(&volumes["reports"]["persistentVolumeClaim"]["claimName"]), s(&pvc["metadata"]["name"]));
    assert_eq!(strings(&pvc["spec"]["accessModes"]), vec!["ReadWriteMany"], "every pod writes to it");
    let merge = manifest("merge-job.yaml");
    assert_eq!(s(&merge["spec"]["template"]["spec"]["containers"][0]["image"]), s(&c["image"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pods_commands_run_here_shard_and_merge() {
    let broker = support::mosquitto(support::NO_LIMITS).await;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (_, scenario) = config_map("scenario.yaml");
    std::fs::create_dir_all(root.join("scenario")).unwrap();
    std::fs::write(root.join("scenario/scenario.toml"), &scenario["scenario.toml"]).unwrap();
    std::fs::create_dir_all(root.join("reports")).unwrap();

    let (_, mut env) = config_map("run-config.yaml");
    env.insert("BROKER_URL".into(), support::url(&broker));
    env.insert("DURATION".into(), "1s".into());
    // Here, four processes on one machine, on loopback: each its own free port.
    env.insert("PROMETHEUS_ADDR".into(), "127.0.0.1:0".into());
    let start = std::time::SystemTime::now() + std::time::Duration::from_secs(6);
    env.insert("START_AT".into(), humantime::format_rfc3339_seconds(start).to_string());

    let job = manifest("shards-job.yaml");
    let n = job["spec"]["completions"].as_i64().unwrap();
    let args: Vec<String> = strings(&job["spec"]["template"]["spec"]["containers"][0]["args"])
        .iter()
        .map(|a| local(&expand(a, &env), root))
        .collect();
    let pods: Vec<_> = (0..n)
        .map(|i| {
            let args: Vec<String> = args.iter().map(|a| a.replace("$(JOB_COMPLETION_INDEX)", &i.to_string())).collect();
            Command::new(env!("CARGO_BIN_EXE_midge"))
                .args(&args)
                .env("JOB_COMPLETION_INDEX", i.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, pod) in pods.into_iter().enumerate() {
        let out = pod.wait_with_output().unwrap();
        assert!(out.status.success(), "pod {i}: {}", String::from_utf8_lossy(&out.stderr));
        // --print-record: the pod's log is its run record.
        let record: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the record on stdout");
        assert_eq!(record["plan"]["shard"]["index"], i as u64);
    }

    let merge = manifest("merge-job.yaml");
    let c = &merge["spec"]["template"]["spec"]["containers"][0];
    let command = strings(&c["command"]);
    assert_eq!(command, vec!["sh", "-c"]);
    let line = local(&strings(&c["args"])[0], root);
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_midge")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("sh").arg("-c").arg(&line).envs(&env).env("PATH", path).output().unwrap();
    assert!(out.status.success(), "merge: {}", String::from_utf8_lossy(&out.stderr));

    let merged = root.join("reports").join(&env["RUN_ID"]).join("merged/report.json");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&merged).unwrap()).unwrap();
    let m = &r["messages"];
    // 2,000 sensors at 1 msg/s for 1 s: one message each was due. A shard
    // whose process was held off the CPU across the end of publishing (a
    // loaded machine) has a due message left unsent — counted as such, never
    // published late: what was due is exact, what went out may fall short.
    let rates = &r["load_generator"]["publish_rates"][0];
    assert_eq!(rates["due"].as_u64(), Some(2000), "{rates}");
    let published = m["published"].as_u64().unwrap();
    assert_eq!(published + m["unsent"].as_u64().unwrap(), 2000, "{m}");
    assert_eq!(rates["sent"].as_u64(), Some(published), "{rates}");
    assert_eq!(m["expected"].as_u64(), Some(published * 8), "8 dashboards each owed every message");
    assert_eq!((m["received"].as_u64(), m["lost"].as_u64()), (Some(published * 8), Some(0)));
    assert_eq!(r["shards"]["parts"].as_array().unwrap().len(), n as usize);
    assert_eq!(r["clients"]["planned"].as_u64(), Some(2008));
}
