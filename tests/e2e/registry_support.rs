//! Shared by the registry e2e tests: start our own `lgma-registry` process on a free port with a
//! unique store topic (so tests never disturb the stack's `_schemas`), and small HTTP helpers.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const CT: &str = "application/vnd.schemaregistry.v1+json";

/// `target/debug/lgma-registry` (build it first: `cargo build -p lgma-registry`).
pub fn registry_bin() -> PathBuf {
    if let Ok(path) = std::env::var("LGMA_REGISTRY_BIN") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/lgma-registry")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn unique_store_topic() -> String {
    format!("test._schemas.{}", uuid::Uuid::new_v4().simple())
}

/// A registry process owned by one test; killed on drop.
pub struct RegistryProcess {
    pub child: Child,
    pub url: String,
}

impl RegistryProcess {
    pub fn start(topic: &str) -> Self {
        Self::start_with(topic, free_port(), &[])
    }

    pub fn start_with(topic: &str, port: u16, env: &[(&str, String)]) -> Self {
        let bin = registry_bin();
        assert!(
            bin.exists(),
            "{} missing: run `cargo build -p lgma-registry`",
            bin.display()
        );
        let mut cmd = Command::new(&bin);
        cmd.arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--topic")
            .arg(topic)
            .env(
                "LGMA_REGISTRY_KAFKA__BOOTSTRAP_SERVERS",
                lgma_e2e::kafka_bootstrap(),
            )
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        // Without a users file the registry refuses to start unless anonymous access is allowed
        // (development only); tests that pass a users file run with auth on.
        if !env
            .iter()
            .any(|(k, _)| *k == "LGMA_REGISTRY_AUTH__USERS_FILE")
        {
            cmd.env("LGMA_REGISTRY_AUTH__ALLOW_ANONYMOUS", "true");
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn lgma-registry");
        let mut process = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        process.wait_ready();
        process
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("lgma-registry exited before becoming ready: {status}");
            }
            if http_status(&format!("{}/ready", self.url)).ok() == Some(200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "registry on {} not ready in 60 s",
                self.url
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL: no graceful shutdown, the hardest case for durability.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().expect("wait registry")
    }
}

impl Drop for RegistryProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A GET sent byte-for-byte (no client-side path normalisation): (status, whole response text).
pub fn raw_get(base: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    let _ = stream.read_to_string(&mut buf);
    let status = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, buf)
}

/// Status code of a blocking GET (readiness polling from sync code, no extra HTTP client).
pub fn http_status(url: &str) -> std::io::Result<u16> {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = String::new();
    stream.read_to_string(&mut buf)?;
    Ok(buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0))
}

/// Async JSON HTTP helper returning (status, body).
pub struct Http {
    pub base: String,
    pub client: reqwest::Client,
}

impl Http {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
        }
    }

    async fn finish(resp: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = resp.send().await.expect("http request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        Self::finish(self.client.get(format!("{}{path}", self.base))).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        Self::finish(self.client.delete(format!("{}{path}", self.base))).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        Self::finish(
            self.client
                .post(format!("{}{path}", self.base))
                .header("Content-Type", CT)
                .body(body.to_string()),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        Self::finish(
            self.client
                .put(format!("{}{path}", self.base))
                .header("Content-Type", CT)
                .body(body.to_string()),
        )
        .await
    }

    /// Registers `schema` (a JSON value) under `subject`; returns (status, body).
    pub async fn register(&self, subject: &str, schema: &Value) -> (u16, Value) {
        self.post(
            &format!("/subjects/{subject}/versions"),
            &serde_json::json!({"schema": schema.to_string()}),
        )
        .await
    }
}

/// A record schema named `name` with the given fields JSON.
pub fn record(name: &str, fields: Value) -> Value {
    serde_json::json!({"type": "record", "name": name, "namespace": "lgma.test", "fields": fields})
}

pub fn unique_subject(stem: &str) -> String {
    format!("{stem}-{}-value", uuid::Uuid::new_v4().simple())
}

/// A private tansu broker (own port, own sqlite file) so a test can restart *a* broker without
/// disturbing the shared one other tests use.
pub struct PrivateBroker {
    pub child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
}

impl PrivateBroker {
    pub fn tansu_bin() -> PathBuf {
        let tools = std::env::var("LGMA_TOOLS").unwrap_or_else(|_| "/opt/lgma".into());
        PathBuf::from(tools).join("tansu/bin/tansu")
    }

    pub fn start() -> Self {
        let dir =
            std::env::temp_dir().join(format!("lgma-tansu-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(".env"), "").unwrap();
        let mut broker = Self {
            child: None,
            port: free_port(),
            dir,
        };
        broker.launch();
        broker
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn launch(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(Self::tansu_bin())
            .current_dir(&self.dir)
            .env_remove("STORAGE_ENGINE")
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args([
                "--storage-engine",
                "sqlite://tansu.db?maintenance_interval=5s",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tansu");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "private tansu did not open its port"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, wait, start again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// SHA-256 hex of `text` via the system `sha256sum` (users files store password digests), to keep
/// the e2e crate's dependencies unchanged.
pub fn sha256_hex(text: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("sha256sum output");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("digest")
        .to_string()
}
