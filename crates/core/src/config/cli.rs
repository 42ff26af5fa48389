//! pmacctd's and nfacctd's command lines: switches become configuration lines appended after
//! the file's.

use super::lexer::Directive;

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Run,
    Help,
    Version,
    ListPrimitives,
    /// pmacct-rs extension: print the configuration-key table as Markdown.
    ListKeys,
    /// pmacct-rs extension: print docs/migrating.md's body.
    ListMigration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandLine {
    pub action: Action,
    pub config_file: Option<String>,
    /// Late configuration lines, in command-line order.
    pub directives: Vec<Directive>,
}

/// Switches with a value, and the key each one sets.
const VALUED: &[(char, &str)] = &[
    ('n', "networks_file"),
    ('P', "plugins"),
    ('b', "imt_buckets"),
    ('F', "pidfile"),
    ('c', "aggregate"),
    ('i', "pcap_interface"),
    ('I', "pcap_savefile"),
    ('m', "imt_mem_pools_number"),
    ('p', "imt_path"),
    ('r', "sql_refresh_time"),
    ('s', "imt_mem_pools_size"),
    ('S', "syslog"),
    ('o', "print_output_file"),
    ('t', "ports_file"),
    ('O', "print_output"),
    ('Z', "pcap_savefile_delay"),
    ('Y', "pcap_savefile_replay"),
    ('L', "snaplen"),
    ('E', "print_output_separator"),
    ('T', "dry_run"),
];

/// Boolean switches and the line each one adds.
const FLAGS: &[(char, &str, &str)] = &[
    ('N', "promisc", "false"),
    ('d', "debug", "true"),
    ('D', "daemonize", "true"),
    ('M', "print_markers", "true"),
    ('u', "print_num_protos", "true"),
    ('w', "pcap_interface_wait", "true"),
    ('W', "pcap_savefile_wait", "true"),
    ('R', "pmacctd_renormalize", "true"),
    ('A', "print_output_file_append", "true"),
    ('z', "pmacctd_nonroot", "true"),
];

pub const USAGE: &str = "\
Usage: pmacctd [ -D | -d ] [ -i interface ] [ -c primitive [ , ... ] ] [ -P plugin [ , ... ] ] [ filter ]
       pmacctd [ -f config_file ]
       pmacctd [ -h ]

General options:
  -h  \tShow this page
  -V  \tShow version and compile-time options and exit
  -a  \tPrint list of supported aggregation primitives
  -f  \tLoad configuration from the specified file
  -T  \tconfig|setup: check the configuration and exit (setup also opens inputs and files)
  -P  \t[ memory | print ] \n\tActivate plugin
  -d  \tEnable debug
  -D  \tDaemonize
  -N  \tDisable promiscuous mode
  -z  \tAllow to run with non root privileges (ie. setcap in use)
  -n  \tPath to a file containing networks and/or ASNs definitions
  -t  \tPath to a file containing ports definitions
  -F  \tWrite Core Process PID into the specified file
  -R  \tRenormalize sampled data
  -L  \tSet snapshot length
  -u  \tLeave IP protocols in numerical format
  -c  \tAggregation method, see full list of primitives with -a (DEFAULT: src_host)
  -i  \tListen on the specified interface
  -I  \tRead packets from the specified savefile
  -Z  \tReading from a savefile, sleep the given amount of seconds at startup and between replays
  -W  \tReading from a savefile, don't exit but sleep when finished
  -Y  \tReading from a savefile, replay the number of times specified
  -w  \tWait for the listening interface to become available
  -S  \t[ auth | mail | daemon | kern | user | local[0-7] ] \n\tLog to the specified syslog facility
  -r  \tRefresh time of print/memory purges (seconds)

Memory plugin (-P memory) options:
  -p  \tSocket for client-server communication (DEFAULT: /tmp/collect.pipe)
  -b  \tNumber of buckets
  -m  \tNumber of memory pools (0 = unbounded)
  -s  \tMemory pool size

Print plugin (-P print) options:
  -O  \t[ formatted | csv | json ] \n\tOutput format
  -o  \tPath to output file
  -M  \tPrint event init/close markers
  -A  \tAppend output (applies to -o)
  -E  \tCSV format separator (applies to -O csv, DEFAULT: ',')

pmacct-rs extensions:
  --list-keys\tPrint the table of configuration keys (Markdown)
  --list-migration\tPrint what pmacct-rs does with each pmacct 1.7.7 key (Markdown)
  --hash-password\tRead a password from stdin, print its hash for web_password_hash
";

/// nfacctd's switches that differ from pmacctd's (`-L` is the address, not the snaplen).
const NFACCTD_VALUED: &[(char, &str)] = &[('L', "nfacctd_ip"), ('l', "nfacctd_port")];

pub const NFACCTD_USAGE: &str = "\
Usage: nfacctd [ -D | -d ] [ -L host ] [ -l port ] [ -c primitive [ , ... ] ] [ -P plugin [ , ... ] ]
       nfacctd [ -f config_file ]
       nfacctd [ -h ]

nfacctd takes pmacctd's options (see pmacctd -h), except:
  -L  \tBind to the specified IP address (DEFAULT: all IPv4 and IPv6 addresses)
  -l  \tListen on the specified UDP port (DEFAULT: 2100)
  -I  \tRead export datagrams from the specified savefile
  -R  \tRenormalize sampled data
";

pub const SFACCTD_USAGE: &str = "\
Usage: sfacctd [ -D | -d ] [ -L host ] [ -l port ] [ -c primitive [ , ... ] ] [ -P plugin [ , ... ] ]
       sfacctd [ -f config_file ]
       sfacctd [ -h ]

sfacctd takes pmacctd's options (see pmacctd -h), except:
  -L  \tBind to the specified IP address (DEFAULT: all IPv4 and IPv6 addresses)
  -l  \tListen on the specified UDP port (DEFAULT: 6343)
  -I  \tRead sFlow datagrams from the specified savefile
  -R  \tRenormalize sampled data
";

/// Parses pmacctd's arguments (without the program name).
pub fn parse(args: &[String]) -> Result<CommandLine, String> {
    parse_as(super::Program::Pmacctd, args)
}

/// Parses the arguments of `program` (without the program name).
pub fn parse_as(program: super::Program, args: &[String]) -> Result<CommandLine, String> {
    let own: &[(char, &str)] = match program {
        super::Program::Nfacctd | super::Program::Sfacctd => NFACCTD_VALUED,
        super::Program::Pmacctd => &[],
    };
    let mut out = CommandLine {
        action: Action::Run,
        config_file: None,
        directives: Vec::new(),
    };
    let mut trailing: Vec<String> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--list-keys" {
            out.action = Action::ListKeys;
            continue;
        }
        if arg == "--list-migration" {
            out.action = Action::ListMigration;
            continue;
        }
        if arg == "--help" {
            out.action = Action::Help;
            continue;
        }
        if arg == "--" {
            trailing.extend(args[i..].iter().cloned());
            break;
        }
        let Some(switches) = arg.strip_prefix('-').filter(|s| !s.is_empty()) else {
            trailing.push(arg.clone());
            continue;
        };
        for (pos, c) in switches.char_indices() {
            if let Some((_, key)) = own
                .iter()
                .chain(VALUED)
                .find(|(f, _)| *f == c)
                .copied()
                .or(if c == 'f' { Some(('f', "")) } else { None })
            {
                let rest = &switches[pos + c.len_utf8()..];
                let value = if !rest.is_empty() {
                    rest.to_string()
                } else if i < args.len() {
                    i += 1;
                    args[i - 1].clone()
                } else {
                    return Err(format!("option -{c} requires an argument"));
                };
                if c == 'f' {
                    out.config_file = Some(value);
                } else {
                    out.directives.push(Directive::command_line(key, &value));
                }
                break;
            }
            match c {
                'h' => out.action = Action::Help,
                'V' => out.action = Action::Version,
                'a' => out.action = Action::ListPrimitives,
                _ => match FLAGS.iter().find(|(f, _, _)| *f == c) {
                    Some((_, key, value)) => {
                        out.directives.push(Directive::command_line(key, value))
                    }
                    None => return Err(format!("invalid option -- '{c}'")),
                },
            }
        }
    }
    if !trailing.is_empty() {
        // pmacct honours a trailing filter only without a configuration file.
        if out.config_file.is_none() {
            out.directives
                .push(Directive::command_line("pcap_filter", &trailing.join(" ")));
        } else {
            return Err(format!(
                "a trailing pcap filter ('{}') is only accepted without -f; use pcap_filter in the file",
                trailing.join(" ")
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn switches_become_late_lines() {
        let c = parse(&args("-f x.conf -c src_host,proto -dW -r5 -P print")).unwrap();
        assert_eq!(c.config_file.as_deref(), Some("x.conf"));
        let lines: Vec<(String, String)> = c
            .directives
            .iter()
            .map(|d| (d.key.clone(), d.value.clone()))
            .collect();
        assert_eq!(
            lines,
            vec![
                ("aggregate".into(), "src_host,proto".into()),
                ("debug".into(), "true".into()),
                ("pcap_savefile_wait".into(), "true".into()),
                ("sql_refresh_time".into(), "5".into()),
                ("plugins".into(), "print".into()),
            ]
        );
    }

    #[test]
    fn trailing_filter_without_file() {
        let c = parse(&args("-i eth0 -c src_host src net 10.0.0.0/16")).unwrap();
        assert_eq!(
            c.directives.last().map(|d| d.value.as_str()),
            Some("src net 10.0.0.0/16")
        );
        assert!(parse(&args("-f x.conf tcp")).is_err());
        assert_eq!(parse(&args("-q")), Err("invalid option -- 'q'".into()));
        assert_eq!(
            parse(&args("-i")),
            Err("option -i requires an argument".into())
        );
        assert_eq!(
            parse(&args("-T config")).unwrap().directives[0].key,
            "dry_run"
        );
    }
}
