//! Broken configurations and their exact messages (docs/configuration.md lists them), and the
//! IPFire thread's configurations accepted unchanged.

mod common;

use std::process::Command;

fn check(conf: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.conf");
    std::fs::write(&path, conf).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_pmacctd"))
        .current_dir(dir.path())
        .args(["-f", "x.conf", "-T", "config"])
        .output()
        .expect("run pmacctd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn broken_configurations_give_exact_errors() {
    let table: &[(&str, &str)] = &[
        ("promisc: maybe\n", "ERROR ( default/core ): x.conf:1: key 'promisc': invalid value: expected true or false, got 'maybe'"),
        ("plugins: print[p]\naggregate_filter: tcp\n", "ERROR ( default/core ): x.conf:2: key 'aggregate_filter': must be bound to a plugin, e.g. 'aggregate_filter[name]: ...'"),
        ("plugins: print[p]\naggregate[p]: src_net\n", "ERROR ( default/core ): x.conf:2: key 'aggregate' of plugin 'p': network primitives (src_net, dst_net, src_mask, dst_mask, sum_net) need networks_file or networks_mask"),
        ("interface green0\n", "ERROR ( default/core ): x.conf:1: syntax error: missing ':' in 'interface green0'"),
        ("plugins: print[p]\naggregate[p]: src_host, prot\n", "ERROR ( default/core ): x.conf:2: key 'aggregate' of plugin 'p': invalid value: unknown primitive 'prot'; did you mean 'proto'?"),
        ("plugins: print[p]\nprint_history[p]: 90\n", "ERROR ( default/core ): x.conf:2: key 'print_history' of plugin 'p': invalid value: a history of 60 seconds or more must be a multiple of 60, got 90"),
        ("plugins: print[p]\nprint_output[p]: xml\n", "ERROR ( default/core ): x.conf:2: key 'print_output' of plugin 'p': invalid value: expected one of formatted, csv, json, influx, event_formatted, event_csv, avro, avro_json, custom, got 'xml'"),
        ("plugins: bogus[p]\n", "ERROR ( default/core ): x.conf:1: key 'plugins': unknown plugin type 'bogus' (known: memory, print, sqlite3, mysql, pgsql, quota, prometheus, influxdb, nfprobe, sfprobe, tee, amqp, kafka)"),
        ("pcap_interface: eth0\npcap_savefile: /x.pcap\n", "ERROR ( default/core ): x.conf:2: key 'pcap_savefile': pcap_interface, pcap_savefile are mutually exclusive: choose one input"),
        ("plugins: print[p]\nprint_trigger_exec[p]: cd /root/metrics && ./x.py\n", "ERROR ( default/core ): x.conf:2: key 'print_trigger_exec' of plugin 'p': invalid value: '&' is shell syntax, and the command runs without a shell: put the command line in a script and give the script (with its arguments)"),
        ("plugins: print[p]\nprint_trigger_exec[p]: /x.py 'unclosed\n", "ERROR ( default/core ): x.conf:2: key 'print_trigger_exec' of plugin 'p': invalid value: a single quote (') is not closed"),
        ("proc_priority: 25\n", "ERROR ( default/core ): x.conf:1: key 'proc_priority': invalid value: expected a nice value between -20 and 19, got '25'"),
        ("files_uid: no-such-user-x\n", "ERROR ( default/core ): x.conf:1: key 'files_uid': invalid value: no such user 'no-such-user-x'"),
        ("files_gid: no-such-group-x\n", "ERROR ( default/core ): x.conf:1: key 'files_gid': invalid value: no such group 'no-such-group-x'"),
        ("drop_privileges_group: nogroup\n", "ERROR ( default/core ): x.conf:1: key 'drop_privileges_group': needs drop_privileges_user (the user to run as)"),
    ];
    for (conf, want) in table {
        let (code, _, stderr) = check(conf);
        assert_eq!(code, 1, "{conf}");
        assert!(
            stderr.lines().any(|l| l == *want),
            "for {conf:?} expected line\n{want}\ngot:\n{stderr}"
        );
    }
}

#[test]
fn all_problems_are_reported_at_once() {
    let (code, _, stderr) =
        check("promisc: maybe\nsnaplen: 1\nplugins: print[p]\nprint_refresh_time[p]: 0\n");
    assert_eq!(code, 1);
    assert!(
        stderr.contains("ERROR ( default/core ): 3 problem(s) in the configuration; not starting"),
        "{stderr}"
    );
}

#[test]
fn unknown_keys_warn_with_a_suggestion_and_do_not_stop() {
    let (code, stdout, stderr) = check("plugins: print[p]\nagregate[p]: src_host\n");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("OK: configuration 'x.conf' is valid"));
    assert!(stderr.contains("WARN ( default/core ): x.conf:2: key 'agregate' of plugin 'p': unknown key, ignored; did you mean 'aggregate'?"), "{stderr}");
}

#[test]
fn the_ipfire_threads_print_and_memory_configurations_are_accepted() {
    let Some(td) = common::testdata() else {
        return common::skipped("../shared/configs");
    };
    let configs = td.join("../configs");
    for name in [
        "memory-interfaces.conf",
        "memory-sum-host.conf",
        "print-csv-trigger.conf",
    ] {
        let text = std::fs::read_to_string(configs.join(name)).expect("read config");
        let (code, stdout, stderr) = check(&text);
        assert_eq!(code, 0, "{name}: {stderr}");
        assert!(stdout.starts_with("OK:"), "{name}");
        assert!(!stderr.contains("ERROR"), "{name}: {stderr}");
    }
}
