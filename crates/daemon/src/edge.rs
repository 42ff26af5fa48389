//! The daemons' thin edge, shared by pmacctd and nfacctd (each binary includes this file):
//! parse the command line and configuration, set up logging and signals, call
//! [`pmacct_daemon::run`], map the outcome to an exit code.

use std::process::ExitCode;

use anyhow::Context;
use pmacct_core::config::{self, cli, keys, ConfigError, Program};
use pmacct_core::primitive::Primitive;
use pmacct_daemon::{logging, process, Control};

fn program_name(program: Program) -> &'static str {
    match program {
        Program::Pmacctd => "pmacctd",
        Program::Nfacctd => "nfacctd",
        Program::Sfacctd => "sfacctd",
    }
}

/// The PID in `pidfile` when it is another live daemon of ours (a stale file is not).
fn running_daemon(pidfile: &std::path::Path, program: Program) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
    if pid == std::process::id() {
        return None;
    }
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == program_name(program)).then_some(pid)
}

/// SIGINT and SIGTERM: the first asks for a flush and exit, a second during the flush exits
/// at once. A thread counts them (a signal handler could only set a flag).
fn count_stop_signals(control: &Control) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("cannot install signal handler")?;
    let (stop, count) = (control.stop.clone(), control.stop_signals.clone());
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for _ in signals.forever() {
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        })
        .context("cannot start the signal thread")?;
    Ok(())
}

/// `-V`: the version, what this build can do, and the libraries it runs with.
fn version_text(program: Program) -> String {
    let pcap = pmacct_daemon::bpf::libpcap_version();
    format!(
        "{} (pmacct-rs) {} - compatible with pmacct 1.7.7 configurations\n\n\
         Features:\n capture: live (libpcap), pcap and pcapng files (memory-mapped reader)\n \
         collect: NetFlow v5, v9, IPFIX (nfacctd: UDP, or a capture file of export datagrams)\n \
         link types: {}\n \
         decode: 802.1Q/QinQ, MPLS, PPPoE, IPv4/IPv6 options and extension headers, fragments\n \
         maps: pcap_interfaces_map and pre_tag_map (reloaded on SIGUSR2), networks_file, ports_file\n \
         operations: daemonize, pidfile, logfile, syslog, drop_privileges_user, triggers\n\n\
         Plugins:\n memory\n print\n sqlite3\n pgsql\n mysql\n quota\n prometheus\n influxdb\n\n\
         Libs:\n {pcap}\n sqlite {}\n",
        program_name(program),
        pmacct_core::VERSION,
        pmacct_wire::LinkType::all_names().collect::<Vec<_>>().join(", "),
        rusqlite::version()
    )
}

/// `-a`: the aggregation primitives, grouped as pmacct lists them.
fn primitives_text(program: Program) -> String {
    let mut out = format!(
        "{} (pmacct-rs) {}: aggregation primitives\n",
        program_name(program),
        pmacct_core::VERSION
    );
    for group in ["L2", "L3", "L4", "NAT", "GEO", "NAMES", "MISC", "TIME"] {
        out.push_str(&format!("\n{group}\n"));
        let listed = Primitive::ALL
            .iter()
            .filter(|p| p.about().0 == group && !p.is_companion());
        for p in listed {
            out.push_str(&format!("{:<32} : {}\n", p.name(), p.about().1));
        }
    }
    out.push_str("\nSUM (each packet counted for its source and for its destination)\n");
    for (name, what) in [
        ("sum_host", "Traffic per IP address, in and out"),
        ("sum_net", "Traffic per network, in and out"),
        ("sum_port", "Traffic per port, in and out"),
        ("sum_mac", "Traffic per MAC address, in and out"),
        ("none", "One total counter"),
    ] {
        out.push_str(&format!("{name:<32} : {what}\n"));
    }
    out
}

/// The daemon's `main`.
pub fn main_for(program: Program) -> ExitCode {
    match real_main(program) {
        Ok(code) => code,
        Err(e) => {
            if let Some(r) = pmacct_daemon::daemonize::readiness() {
                r.failed(&format!("{e:#}"));
            }
            logging::eprint_line(&format!("ERROR ( default/core ): {e:#}"));
            ExitCode::from(1)
        }
    }
}

fn real_main(program: Program) -> anyhow::Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = program_name(program);
    let usage = match program {
        Program::Pmacctd => cli::USAGE,
        Program::Nfacctd => cli::NFACCTD_USAGE,
        Program::Sfacctd => cli::SFACCTD_USAGE,
    };
    if args.first().map(String::as_str) == Some("--hash-password") {
        return hash_password();
    }
    let cmd = match cli::parse_as(program, &args) {
        Ok(c) => c,
        Err(e) => {
            logging::eprint_line(&format!("ERROR ( default/core ): {e}\n\n{usage}"));
            return Ok(ExitCode::from(1));
        }
    };
    match cmd.action {
        cli::Action::Help => {
            print!("pmacct-rs {name} {}\n\n{usage}", pmacct_core::VERSION);
            return Ok(ExitCode::SUCCESS);
        }
        cli::Action::Version => {
            print!("{}", version_text(program));
            return Ok(ExitCode::SUCCESS);
        }
        cli::Action::ListPrimitives => {
            print!("{}", primitives_text(program));
            return Ok(ExitCode::SUCCESS);
        }
        cli::Action::ListKeys => {
            print!("{}", keys::markdown_table());
            return Ok(ExitCode::SUCCESS);
        }
        cli::Action::ListMigration => {
            print!("{}", config::migrating::markdown());
            return Ok(ExitCode::SUCCESS);
        }
        cli::Action::Run => {}
    }
    let (file_name, text) = match &cmd.config_file {
        Some(f) => (
            f.clone(),
            std::fs::read_to_string(f)
                .with_context(|| format!("cannot read configuration file '{f}'"))?,
        ),
        None => ("command line".to_string(), String::new()),
    };
    let mut warnings: Vec<ConfigError> = Vec::new();
    let loaded = config::load_as(program, &file_name, &text, cmd.directives, &mut warnings);
    for w in &warnings {
        logging::eprint_line(&format!("WARN ( default/core ): {w}"));
    }
    let mut config = match loaded {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors.0 {
                logging::eprint_line(&format!("ERROR ( default/core ): {e}"));
            }
            logging::eprint_line(&format!(
                "ERROR ( default/core ): {} problem(s) in the configuration; not starting",
                errors.0.len()
            ));
            return Ok(ExitCode::from(1));
        }
    };
    config.core.program = program;
    match config.core.dry_run.as_deref() {
        Some("config") => {
            println!(
                "OK: configuration '{file_name}' is valid ({} plugin(s))",
                config.plugins.len()
            );
            return Ok(ExitCode::SUCCESS);
        }
        Some(_) => {
            pmacct_daemon::check_setup(&config)?;
            println!(
                "OK: configuration '{file_name}' is valid and its inputs, maps and filters open"
            );
            return Ok(ExitCode::SUCCESS);
        }
        None => {}
    }
    // No thread runs yet: the fork copies the whole process. The parent waits for the
    // child's verdict (its inputs open, or its error) and exits with it.
    let readiness = match config.core.daemonize {
        true => Some(pmacct_daemon::daemonize::daemonize().context("cannot daemonize")?),
        false => None,
    };
    // SAFETY: umask only changes this process's file creation mask.
    unsafe {
        libc::umask(config.core.files_umask as libc::mode_t);
    }
    process::set_files_owner(config.core.files_owner);
    let new_log = config.core.logfile.as_deref().filter(|l| !l.exists());
    logging::init_with_syslog(
        config.core.debug,
        config.core.logfile.as_deref(),
        config.core.syslog.as_deref(),
    )
    .with_context(|| "cannot open logfile".to_string())?;
    if let Some(log) = new_log {
        process::own(log);
    }
    // Before any thread starts, so every thread inherits it.
    process::set_process_nice(config.core.proc_priority);
    // Signals are ours before the pidfile names this process: a SIGTERM sent as soon as the
    // pidfile appears asks for a clean stop instead of killing it outright.
    let control = Control {
        readiness,
        ..Control::default()
    };
    count_stop_signals(&control)?;
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, control.dump_stats.clone())
        .context("cannot install signal handler")?;
    signal_hook::flag::register(signal_hook::consts::SIGUSR2, control.reload_maps.clone())
        .context("cannot install signal handler")?;
    signal_hook::flag::register(signal_hook::consts::SIGHUP, control.reopen_log.clone())
        .context("cannot install signal handler")?;
    if let Some(pidfile) = &config.core.pidfile {
        if let Some(pid) = running_daemon(pidfile, program) {
            anyhow::bail!(
                "pidfile '{}' names a running {name} (PID {pid}): stop it first, or give this one another pidfile",
                pidfile.display()
            );
        }
        std::fs::write(pidfile, format!("{}\n", std::process::id()))
            .with_context(|| format!("cannot write pidfile '{}'", pidfile.display()))?;
        process::own(pidfile);
    }
    tracing::info!(
        "( {}/core ): {name} (pmacct-rs) {} starting; reading configuration '{file_name}'",
        config.core.proc_name,
        pmacct_core::VERSION
    );

    let inputs = pmacct_daemon::plan_inputs(&config)?;
    let result = pmacct_daemon::run(&config, inputs, &control);
    if let Some(pidfile) = &config.core.pidfile {
        match std::fs::remove_file(pidfile) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => tracing::warn!(
                "( {}/core ): cannot remove pidfile '{}': {e} (after drop_privileges_user, keep it in a folder that user can write, such as /run/pmacct)",
                config.core.proc_name,
                pidfile.display()
            ),
            _ => {}
        }
    }
    match result {
        Ok(_) => {
            tracing::info!("( {}/core ): exiting", config.core.proc_name);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            tracing::error!("( {}/core ): {e}", config.core.proc_name);
            if let Some(r) = &control.readiness {
                r.failed(&e.to_string());
            }
            Ok(ExitCode::from(1))
        }
    }
}

/// `--hash-password`: reads a password (first line of stdin) and prints its Argon2 hash for
/// `web_password_hash`.
#[cfg(feature = "web")]
fn hash_password() -> anyhow::Result<ExitCode> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        logging::eprint_line(
            "ERROR: --hash-password reads the password from the first line of stdin; it was empty",
        );
        return Ok(ExitCode::from(1));
    }
    let hash = pmacct_daemon::web::auth::hash_password(password).map_err(anyhow::Error::msg)?;
    println!("{hash}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "web"))]
fn hash_password() -> anyhow::Result<ExitCode> {
    logging::eprint_line(
        "ERROR: --hash-password: this build has no web page (built without the `web` feature)",
    );
    Ok(ExitCode::from(1))
}
