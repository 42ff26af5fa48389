//! A throwaway RabbitMQ (Debian's rabbitmq-server) in its own network namespace, on
//! 127.0.0.1:5672 there (the port Debian's pmacct always uses), with a durable queue `q` bound
//! to the exchange the tests publish to, and Debian's amqp-tools as the consumer.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::sh;

pub struct Rabbit {
    pub ns: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Drop for Rabbit {
    fn drop(&mut self) {
        self.stop();
        sh(&["ip", "netns", "del", &self.ns]);
    }
}

impl Rabbit {
    /// None (after saying so) when a namespace cannot be made (not root).
    pub fn start(tag: &str) -> Option<Rabbit> {
        let ns = format!("prmq{tag}{}", std::process::id() % 100_000);
        if !sh(&["ip", "netns", "add", &ns]) {
            println!("SKIPPED: the RabbitMQ tests need root and iproute2 (ip netns add failed)");
            return None;
        }
        assert!(sh(&[
            "ip", "netns", "exec", &ns, "ip", "link", "set", "lo", "up"
        ]));
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["home", "mnesia", "log"] {
            std::fs::create_dir(dir.path().join(sub)).expect("dir");
        }
        std::fs::write(dir.path().join("plugins"), "[].\n").expect("plugins");
        std::fs::write(dir.path().join("env.conf"), "").expect("env");
        let mut r = Rabbit {
            ns,
            dir,
            child: None,
        };
        r.run_server();
        Some(r)
    }

    fn env(&self, c: &mut Command) {
        let d = self.dir.path();
        c.env("HOME", d.join("home"))
            .env("RABBITMQ_CONF_ENV_FILE", d.join("env.conf"))
            .env("RABBITMQ_NODENAME", "t@localhost")
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", "5672")
            .env("RABBITMQ_DIST_PORT", "25672")
            .env("ERL_EPMD_PORT", "4369")
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("plugins"))
            .env("RABBITMQ_PID_FILE", d.join("pid"));
    }

    /// Starts the server (again) and waits for its AMQP port.
    pub fn run_server(&mut self) {
        let mut c = Command::new("ip");
        c.args([
            "netns",
            "exec",
            &self.ns,
            "/usr/lib/rabbitmq/bin/rabbitmq-server",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        self.env(&mut c);
        self.child = Some(
            c.spawn()
                .expect("rabbitmq-server (apt-get install rabbitmq-server)"),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.listening() {
            assert!(Instant::now() < deadline, "RabbitMQ did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn listening(&self) -> bool {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns, "cat", "/proc/net/tcp"])
            .output()
            .expect("cat");
        // 127.0.0.1:5672 listening (state 0A).
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.contains("0100007F:1628 00000000:0000 0A"))
    }

    /// Stops the server (and its epmd); what is durable stays in its directory.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let mut c = Command::new("ip");
        c.args([
            "netns",
            "exec",
            &self.ns,
            "/usr/lib/rabbitmq/bin/rabbitmqctl",
            "-n",
            "t@localhost",
            "stop",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        self.env(&mut c);
        let _ = c.status();
        let _ = child.kill();
        let _ = child.wait();
        let mut e = Command::new("ip");
        e.args(["netns", "exec", &self.ns, "epmd", "-kill"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.env(&mut e);
        let _ = e.status();
    }

    /// Runs `program args` in the namespace; its output.
    pub fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns, program])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    /// A consumer (Debian's amqp-consume) of `exchange` with `key`, on its own queue,
    /// running until dropped; returned once its binding is in place (the exchange must exist).
    pub fn consume(&self, exchange: &str, key: &str, name: &str) -> Consumer {
        let file = self.dir.path().join(name);
        let _ = std::fs::remove_file(&file);
        let script = format!("cat >> {f}; printf '\\n\\n' >> {f}", f = file.display());
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "amqp-consume", "-s", "127.0.0.1"])
            .args(["-e", exchange, "-r", key, "--", "sh", "-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("amqp-consume (apt-get install amqp-tools)");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut c = Command::new("ip");
            c.args([
                "netns",
                "exec",
                &self.ns,
                "/usr/lib/rabbitmq/bin/rabbitmqctl",
            ])
            .args([
                "-n",
                "t@localhost",
                "-q",
                "list_bindings",
                "source_name",
                "routing_key",
            ]);
            self.env(&mut c);
            let out = c.output().expect("rabbitmqctl");
            let text = String::from_utf8_lossy(&out.stdout);
            if text.lines().any(|l| l == format!("{exchange}\t{key}")) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the consumer was not bound: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Consumer { child, file }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A running consumer writing each message it gets to a file, followed by an empty line.
pub struct Consumer {
    child: Child,
    file: PathBuf,
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Consumer {
    /// What arrived once `done` holds for it, or after 30 s.
    pub fn wait_for(&self, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&self.file).unwrap_or_default();
            if done(&text) || Instant::now() >= deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A consumer (Debian's python3-pika) of a durable queue `q` bound to a durable exchange: it
/// appends each message to a file (followed by an empty line) before acknowledging it, and
/// reconnects while the broker is away, so nothing published meanwhile is missed.
const DURABLE_CONSUMER: &str = r#"
import sys, time, pika
exchange, key, out, ready = sys.argv[1:5]
while True:
    try:
        c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672))
        ch = c.channel()
        ch.exchange_declare(exchange=exchange, exchange_type="direct", durable=True)
        ch.queue_declare(queue="q", durable=True)
        ch.queue_bind(queue="q", exchange=exchange, routing_key=key)
        open(ready, "a").write("bound\n")
        def take(ch, method, props, body):
            with open(out, "ab") as f:
                f.write(body + b"\n\n")
            ch.basic_ack(method.delivery_tag)
        ch.basic_consume(queue="q", on_message_callback=take)
        ch.start_consuming()
    except Exception:
        time.sleep(0.2)
"#;

impl Rabbit {
    /// A [`DURABLE_CONSUMER`] of `exchange` with `key`, returned once it is bound.
    pub fn consume_durable(&self, exchange: &str, key: &str, name: &str) -> Consumer {
        let file = self.dir.path().join(name);
        let ready = self.dir.path().join(format!("{name}.ready"));
        let script = self.dir.path().join("consumer.py");
        std::fs::write(&script, DURABLE_CONSUMER).expect("script");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "/usr/bin/python3"])
            .arg(&script)
            .args([exchange, key])
            .arg(&file)
            .arg(&ready)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 (apt-get install python3-pika)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready.exists() {
            assert!(
                Instant::now() < deadline,
                "the durable consumer did not bind"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Consumer { child, file }
    }

    /// How many times a durable consumer has bound (it binds again after a restart).
    pub fn binds(&self, name: &str) -> usize {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.ready")))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}
