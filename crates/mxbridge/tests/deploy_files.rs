//! The deployment files (`Dockerfile`, `docker-compose.yml`, `docker/`) checked against the
//! compiled binary and against each other, since no Docker engine runs in CI: the commands
//! they run are run here with the real binary, with each container path mapped to a folder
//! of a sandbox the way its volume would be, and every place where two files must agree
//! (ports, service names, registration paths, database roles, server name) is compared.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml(rel: &str) -> Value {
    yaml_text(&read(rel), rel)
}

fn yaml_text(text: &str, what: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{what} is not valid YAML: {e}"))
}

fn str_at<'a>(v: &'a Value, pointer: &str, what: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("{what}: no string at {pointer}"))
}

fn sandbox(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mxbridge-deploy-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// ---------------------------------------------------------------------------------------
// Dockerfile

/// One instruction, with continuation lines joined.
struct Instruction {
    keyword: String,
    args: String,
}

fn dockerfile_stages() -> Vec<Vec<Instruction>> {
    let text = read("Dockerfile");
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(start) => {
                current.push_str(start);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages: Vec<Vec<Instruction>> = Vec::new();
    for line in logical {
        let (keyword, args) = line.split_once(' ').unwrap_or((&line, ""));
        let instruction = Instruction { keyword: keyword.to_uppercase(), args: args.trim().to_owned() };
        if instruction.keyword == "FROM" {
            stages.push(Vec::new());
        }
        stages.last_mut().expect("the Dockerfile starts with FROM").push(instruction);
    }
    stages
}

fn last<'a>(stage: &'a [Instruction], keyword: &str) -> Option<&'a str> {
    stage.iter().rev().find(|i| i.keyword == keyword).map(|i| i.args.as_str())
}

/// What the compose file and the tests need from the Dockerfile's runtime stage.
struct Image {
    /// ENTRYPOINT, exec form.
    entrypoint: Vec<String>,
    /// WORKDIR.
    workdir: String,
    /// VOLUME paths.
    volumes: Vec<String>,
}

fn image() -> Image {
    let stages = dockerfile_stages();
    assert!(stages.len() >= 2, "the Dockerfile has a build stage and a runtime stage");
    let (builder, runtime) = (&stages[0], stages.last().unwrap());

    let build = builder.iter().find(|i| i.keyword == "RUN" && i.args.contains("cargo build")).expect("the build stage runs cargo build");
    for flag in ["-p mxbridge", "--release", "--locked"] {
        assert!(build.args.contains(flag), "the build stage's cargo build lacks `{flag}`: {}", build.args);
    }
    let from = |stage: &[Instruction]| last(stage, "FROM").unwrap().to_owned();
    for stage in [builder, runtime] {
        assert!(from(stage).contains("bookworm"), "both stages are Debian bookworm (same glibc and OpenSSL): {}", from(stage));
    }

    let entrypoint: Vec<String> = serde_json::from_str(last(runtime, "ENTRYPOINT").expect("the runtime stage has an ENTRYPOINT"))
        .expect("ENTRYPOINT is in exec form (a JSON array), so signals reach the bridge");
    let copy = runtime
        .iter()
        .find(|i| i.keyword == "COPY" && i.args.starts_with("--from="))
        .expect("the runtime stage copies the binary from the build stage");
    let dest = copy.args.split_whitespace().last().unwrap();
    assert_eq!(entrypoint[0], dest, "ENTRYPOINT runs the binary the runtime stage copies in");

    let user = last(runtime, "USER").expect("the runtime stage sets a USER");
    assert!(!["root", "0"].contains(&user.split(':').next().unwrap()), "the bridge does not run as root");
    let volumes: Vec<String> =
        last(runtime, "VOLUME").expect("the runtime stage declares a VOLUME").split_whitespace().map(str::to_owned).collect();
    let workdir = last(runtime, "WORKDIR").expect("the runtime stage sets a WORKDIR").to_owned();
    assert!(volumes.contains(&workdir), "WORKDIR is the volume: relative data paths (WhatsApp sessions) land in it");
    let config = entrypoint.iter().position(|a| a == "-c" || a == "--config").map(|i| &entrypoint[i + 1]).expect("ENTRYPOINT passes -c");
    assert!(volumes.iter().any(|v| config.starts_with(&format!("{v}/"))), "the config {config} is in a volume");
    Image { entrypoint, workdir, volumes }
}

#[test]
fn test_dockerfile_builds_and_runs_the_binary_as_a_user_with_a_data_volume() {
    let image = image();
    assert_eq!(image.volumes, ["/data"]);
    let ignore = read(".dockerignore");
    for needed in ["target/", ".git"] {
        assert!(ignore.lines().any(|l| l.trim().starts_with(needed)), ".dockerignore keeps {needed} out of the build context");
    }

    // The flags of the ENTRYPOINT exist: clap refuses unknown ones before it prints help.
    let out = Command::new(env!("CARGO_BIN_EXE_mxbridge")).args(&image.entrypoint[1..]).arg("--help").output().unwrap();
    assert!(out.status.success(), "{:?} --help: {}", image.entrypoint, stderr(&out));
}

/// Shared libraries the runtime stage must install, by the name `ldd` shows; the rest come
/// with every Debian image (libc6, libgcc-s1).
const RUNTIME_LIBRARIES: &[(&str, &str)] = &[("libssl.so.3", "libssl3"), ("libcrypto.so.3", "libssl3")];
const BASE_LIBRARIES: &[&str] =
    &["linux-vdso.so", "libc.so", "libm.so", "libgcc_s.so", "ld-linux", "libpthread.so", "libdl.so", "librt.so"];

#[test]
fn test_runtime_stage_installs_every_shared_library_the_binary_links() {
    let ldd = Command::new("ldd").arg(env!("CARGO_BIN_EXE_mxbridge")).output().expect("ldd runs");
    assert!(ldd.status.success(), "{}", stderr(&ldd));
    let runtime = dockerfile_stages().pop().unwrap();
    let installs: String = runtime.iter().filter(|i| i.keyword == "RUN").map(|i| i.args.as_str()).collect::<Vec<_>>().join(" ");
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let lib = line.split_whitespace().next().unwrap_or("");
        let lib = lib.rsplit('/').next().unwrap();
        if BASE_LIBRARIES.iter().any(|b| lib.starts_with(b)) {
            continue;
        }
        let package = RUNTIME_LIBRARIES
            .iter()
            .find(|(name, _)| *name == lib)
            .map(|(_, p)| *p)
            .unwrap_or_else(|| panic!("the binary now links {lib}: add its Debian package to the Dockerfile's runtime stage and here"));
        assert!(installs.split_whitespace().any(|w| w == package), "the runtime stage does not install {package} (for {lib})");
    }
}

// ---------------------------------------------------------------------------------------
// docker-compose.yml

/// Where a container path comes from.
#[derive(Clone, Debug)]
enum Source {
    /// A file or folder of the repository.
    Bind(PathBuf),
    /// A named volume.
    Volume(String),
}

#[derive(Clone, Debug)]
struct Mount {
    source: Source,
    target: String,
    read_only: bool,
}

fn mounts(compose: &Value, service: &str) -> Vec<Mount> {
    let declared = compose.get("volumes").and_then(Value::as_object).cloned().unwrap_or_default();
    let list = compose.pointer(&format!("/services/{service}/volumes")).and_then(Value::as_array).cloned().unwrap_or_default();
    list.iter()
        .map(|v| {
            let spec = v.as_str().unwrap_or_else(|| panic!("{service}: volumes are written short (src:dst[:ro])"));
            let parts: Vec<&str> = spec.split(':').collect();
            let (src, target) = (parts[0], parts[1].to_owned());
            let read_only = parts.get(2) == Some(&"ro");
            let source = if src.starts_with("./") {
                let path = repo().join(src);
                assert!(path.exists(), "{service} mounts {src}, which is not in the repository");
                Source::Bind(path)
            } else {
                assert!(declared.contains_key(src), "{service} mounts the volume {src}, which the top-level `volumes:` does not declare");
                Source::Volume(src.to_owned())
            };
            Mount { source, target, read_only }
        })
        .collect()
}

/// The sandbox stands in for the Docker host: a named volume is a folder shared by every
/// service that mounts it; a writable bind-mounted file is a copy per service (the repo's
/// files stay as they are).
struct Host {
    root: PathBuf,
}

impl Host {
    fn path(&self, service: &str, mounts: &[Mount], container_path: &str) -> PathBuf {
        let mount = mounts
            .iter()
            .filter(|m| container_path == m.target || container_path.starts_with(&format!("{}/", m.target)))
            .max_by_key(|m| m.target.len())
            .unwrap_or_else(|| panic!("{service}: {container_path} is in no volume, so it is lost with the container"));
        let rest = container_path[mount.target.len()..].trim_start_matches('/');
        match &mount.source {
            Source::Volume(name) => {
                let dir = self.root.join("volumes").join(name);
                std::fs::create_dir_all(&dir).unwrap();
                if rest.is_empty() { dir } else { dir.join(rest) }
            }
            Source::Bind(path) if mount.read_only || path.is_dir() => path.join(rest),
            Source::Bind(path) => {
                let copy = self.root.join("binds").join(service).join(path.file_name().unwrap());
                if !copy.exists() {
                    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
                    std::fs::copy(path, &copy).unwrap();
                }
                copy
            }
        }
    }

    /// Runs the image's ENTRYPOINT plus `args` in `service` with the real binary, container
    /// paths in the arguments replaced by their sandbox paths.
    fn run(&self, image: &Image, compose: &Value, service: &str, args: &[String]) -> Output {
        let mounts = mounts(compose, service);
        let argv: Vec<String> = image.entrypoint[1..]
            .iter()
            .chain(args)
            .map(|a| if a.starts_with('/') { self.path(service, &mounts, a).display().to_string() } else { a.clone() })
            .collect();
        Command::new(env!("CARGO_BIN_EXE_mxbridge")).args(&argv).current_dir(self.path(service, &mounts, &image.workdir)).output().unwrap()
    }
}

/// `docker compose run [options] SERVICE ARGS...` lines of a script or document.
fn compose_runs(text: &str) -> Vec<(String, Vec<String>)> {
    let mut runs = Vec::new();
    for line in text.lines() {
        let Some(start) = line.find("docker compose run ") else { continue };
        let line = line[start..].split('`').next().unwrap();
        let mut words = line.split_whitespace().skip(3).map(str::to_owned);
        let mut service = None;
        while let Some(w) = words.next() {
            match w.as_str() {
                "--user" | "-u" | "-e" | "--env" | "-w" | "--workdir" | "--name" => {
                    words.next();
                }
                "--entrypoint" | "-v" | "--volume" => panic!("this test does not know what `{w}` does to the container: {line}"),
                w if w.starts_with('-') => {}
                _ => {
                    service = Some(w);
                    break;
                }
            }
        }
        runs.push((service.expect("a service after the options"), words.collect()));
    }
    runs
}

/// The parts of a bridge's config that other files must agree with.
struct BridgeConfig {
    value: Value,
}

impl BridgeConfig {
    fn get(&self, pointer: &str) -> &str {
        str_at(&self.value, pointer, "bridge config")
    }
    fn port(&self) -> u64 {
        self.value.pointer("/appservice/port").and_then(Value::as_u64).expect("appservice.port")
    }
}

fn bridges(compose: &Value) -> Vec<String> {
    let services = compose.get("services").and_then(Value::as_object).expect("services");
    let bridges: Vec<String> = services.iter().filter(|(_, s)| s.get("build").is_some()).map(|(name, _)| name.clone()).collect();
    assert!(!bridges.is_empty(), "the compose file builds the bridge image");
    bridges
}

fn env(compose: &Value, service: &str, key: &str) -> String {
    match compose.pointer(&format!("/services/{service}/environment/{key}")) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => panic!("{service} has no environment {key}"),
    }
}

/// Every check of the compose stack, run by the test below; an error message says which
/// file disagrees with which.
fn check_compose_stack(host: &Host) {
    let image = image();
    let compose = yaml("docker-compose.yml");
    let services = compose.get("services").and_then(Value::as_object).expect("services");
    let first_start = read("docker/first-start.sh");
    let runs = compose_runs(&first_start);

    // Synapse and PostgreSQL as the bridges must see them.
    let synapse_mounts = mounts(&compose, "synapse");
    assert!(str_at(&compose, "/services/synapse/image", "synapse").starts_with("matrixdotorg/synapse:"));
    let hs_config_path = env(&compose, "synapse", "SYNAPSE_CONFIG_PATH");
    let hs_path = host.path("synapse", &synapse_mounts, &hs_config_path);
    let hs = yaml_text(&std::fs::read_to_string(&hs_path).unwrap(), "Synapse's config");
    let server_name = str_at(&hs, "/server_name", "homeserver.yaml").to_owned();
    assert_eq!(env(&compose, "synapse", "SYNAPSE_SERVER_NAME"), server_name, "SYNAPSE_SERVER_NAME is homeserver.yaml's server_name");
    let hs_ports: Vec<u64> = hs["listeners"].as_array().unwrap().iter().filter_map(|l| l["port"].as_u64()).collect();
    let log_config = str_at(&hs, "/log_config", "homeserver.yaml");
    assert!(host.path("synapse", &synapse_mounts, log_config).exists(), "Synapse's log_config {log_config} is mounted");
    for key in ["/media_store_path", "/signing_key_path", "/registration_shared_secret_path"] {
        host.path("synapse", &synapse_mounts, str_at(&hs, key, "homeserver.yaml")); // panics when in no volume
    }
    let db = &hs["database"]["args"];
    assert!(services.contains_key(str_at(db, "/host", "database.args")), "Synapse's database host is a compose service");
    assert_eq!(str_at(db, "/user", "database.args"), env(&compose, "postgres", "POSTGRES_USER"));
    assert_eq!(str_at(db, "/password", "database.args"), env(&compose, "postgres", "POSTGRES_PASSWORD"));
    assert_eq!(str_at(db, "/database", "database.args"), env(&compose, "postgres", "POSTGRES_DB"));
    let bridge_db_password = env(&compose, "postgres", "MXBRIDGE_DB_PASSWORD");
    let init = read("docker/postgres/init-databases.sh");
    let init_bridges: BTreeSet<String> = init
        .lines()
        .find_map(|l| l.trim().strip_prefix("for bridge in "))
        .and_then(|l| l.split(';').next())
        .expect("init-databases.sh loops over the bridges")
        .split_whitespace()
        .map(|b| format!("mxbridge_{b}"))
        .collect();
    assert!(init.contains("CREATE ROLE mxbridge_$bridge") && init.contains("CREATE DATABASE mxbridge_$bridge OWNER mxbridge_$bridge"));
    let init_mounted = mounts(&compose, "postgres").iter().any(|m| {
        matches!(&m.source, Source::Bind(p) if p.ends_with("init-databases.sh")) && m.target.starts_with("/docker-entrypoint-initdb.d/")
    });
    assert!(init_mounted, "the postgres service runs init-databases.sh");

    let mut registrations = BTreeMap::new();
    for bridge in bridges(&compose) {
        let service = &services[&bridge];
        let context = repo().join(service["build"].as_str().expect("build: <context>"));
        assert!(context.join("Dockerfile").exists(), "{bridge} builds from the Dockerfile");
        assert!(
            service.get("command").is_none() && service.get("entrypoint").is_none(),
            "{bridge} runs the image's ENTRYPOINT (the bridge)"
        );
        let bridge_mounts = mounts(&compose, &bridge);
        let config_arg = image.entrypoint.iter().position(|a| a == "-c").map(|i| image.entrypoint[i + 1].clone()).unwrap();
        let config_mount = bridge_mounts.iter().find(|m| m.target == config_arg);
        assert!(
            matches!(config_mount, Some(Mount { source: Source::Bind(_), read_only: false, .. })),
            "{bridge} mounts a config of the repository, writable, at {config_arg}"
        );
        let config_path = host.path(&bridge, &bridge_mounts, &config_arg);
        let config = BridgeConfig { value: yaml_text(&std::fs::read_to_string(&config_path).unwrap(), &bridge) };

        // Synapse reaches the bridge by its service name on its listener port.
        let port = config.port();
        assert_eq!(config.get("/appservice/hostname"), "0.0.0.0", "{bridge} listens on its container's addresses");
        assert_eq!(config.get("/appservice/address"), format!("http://{bridge}:{port}"), "{bridge}'s appservice.address");
        let exposed: Vec<String> =
            service["expose"].as_array().map(|a| a.iter().map(|p| p.as_str().unwrap().to_owned()).collect()).unwrap_or_default();
        assert_eq!(exposed, [port.to_string()], "{bridge} exposes its appservice.port");

        // The bridge reaches Synapse and its own database.
        let hs_address = config.get("/homeserver/address");
        assert!(
            hs_ports.iter().any(|p| hs_address == format!("http://synapse:{p}")),
            "{bridge}'s homeserver.address {hs_address} is not the synapse service on a port of its listeners {hs_ports:?}"
        );
        assert_eq!(config.get("/homeserver/domain"), server_name, "{bridge}'s homeserver.domain is Synapse's server_name");
        assert_eq!(config.get("/database/type"), "postgres");
        let uri = url::Url::parse(config.get("/database/uri")).expect("database.uri is a URL");
        assert!(services.contains_key(uri.host_str().unwrap()), "{bridge}'s database host is a compose service");
        assert!(init_bridges.contains(uri.username()), "init-databases.sh creates no role {}", uri.username());
        assert_eq!(uri.path().trim_start_matches('/'), uri.username(), "{bridge}: database named as its role");
        assert_eq!(uri.password(), Some(bridge_db_password.as_str()), "{bridge}'s database password is MXBRIDGE_DB_PASSWORD");

        // The first start writes the registration, then the config passes check-config.
        let mine: Vec<&Vec<String>> = runs.iter().filter(|(s, _)| *s == bridge).map(|(_, a)| a).collect();
        assert_eq!(mine.len(), 1, "first-start.sh generates {bridge}'s registration once");
        let args = mine[0];
        assert_eq!(args[0], "generate-registration", "first-start.sh runs generate-registration for {bridge}");
        let out = host.run(&image, &compose, &bridge, args);
        assert!(out.status.success(), "{bridge} {args:?}: {}", stderr(&out));
        let output_arg = args.iter().position(|a| a == "-o" || a == "--output").map(|i| args[i + 1].clone()).expect("-o <file>");
        let written = host.path(&bridge, &bridge_mounts, &output_arg);
        let registration = yaml_text(&std::fs::read_to_string(&written).unwrap(), "registration");
        assert_eq!(str_at(&registration, "/url", "registration"), config.get("/appservice/address"));
        registrations.insert(written, bridge.clone());

        let check = host.run(&image, &compose, &bridge, &["check-config".to_owned()]);
        assert!(check.status.success(), "{bridge} check-config: {}", stderr(&check));

        // The healthcheck runs the image's binary with the bridge's config; with no bridge
        // running it must fail on the bridge's own port, not on a config error.
        let test: Vec<String> = service["healthcheck"]["test"]
            .as_array()
            .unwrap_or_else(|| panic!("{bridge} has a healthcheck test"))
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        let expected: Vec<String> =
            ["CMD"].iter().map(|s| s.to_string()).chain(image.entrypoint.iter().cloned()).chain(["healthcheck".to_owned()]).collect();
        assert_eq!(test, expected, "{bridge}'s healthcheck runs `mxbridge -c <config> healthcheck`");
        let probe = host.run(&image, &compose, &bridge, &["healthcheck".to_owned()]);
        assert_eq!(probe.status.code(), Some(1), "{bridge} healthcheck: {}", stderr(&probe));
        assert!(stderr(&probe).contains(&format!("no bridge answers on 127.0.0.1:{port}")), "{bridge} healthcheck: {}", stderr(&probe));
    }

    // Synapse reads exactly the registrations the bridges wrote.
    let listed: Vec<PathBuf> = hs["app_service_config_files"]
        .as_array()
        .expect("app_service_config_files")
        .iter()
        .map(|p| host.path("synapse", &synapse_mounts, p.as_str().unwrap()))
        .collect();
    for path in &listed {
        assert!(registrations.contains_key(path), "Synapse lists {}, which no bridge writes", path.display());
    }
    for (path, bridge) in &registrations {
        assert!(listed.contains(path), "Synapse does not list {bridge}'s registration {}", path.display());
    }
    assert!(first_start.contains("docker compose run --rm synapse generate"), "first-start.sh lets Synapse generate its keys");

    // Commands the README shows parse with the binary's flags.
    for (service, args) in compose_runs(&read("docker/README.md")) {
        if !bridges(&compose).contains(&service) {
            continue;
        }
        let mut argv: Vec<String> = image.entrypoint[1..].to_vec();
        argv.extend(args.iter().cloned());
        argv.push("--help".to_owned());
        let out = Command::new(env!("CARGO_BIN_EXE_mxbridge")).args(&argv).output().unwrap();
        assert!(out.status.success(), "docker/README.md: {service} {args:?}: {}", stderr(&out));
    }
}

#[test]
fn test_compose_stack_agrees_with_the_binary_and_its_configs() {
    let host = Host { root: sandbox("compose") };
    check_compose_stack(&host);
    let _ = std::fs::remove_dir_all(&host.root);
}
