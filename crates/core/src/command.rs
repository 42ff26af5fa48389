//! Trigger command lines (`*_trigger_exec`) split into a program and its arguments as a shell
//! would split words, without a shell: 'single quotes' keep everything, "double quotes" keep
//! everything but `\"`, `\\`, `\$` and `` \` `` escapes, and a backslash outside quotes escapes
//! the next character. Shell syntax that would need a shell to mean anything (`;`, `&`, `|`,
//! `<`, `>`, `` ` ``, `$`, `*`, `?` outside quotes) is an error that says to use a script.

/// The words of a command line.
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("a single quote (') is not closed".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => w.push(e),
                            Some(other) => {
                                w.push('\\');
                                w.push(other);
                            }
                            None => return Err("a double quote (\") is not closed".into()),
                        },
                        Some(c @ ('$' | '`')) => return Err(shell(c)),
                        Some(c) => w.push(c),
                        None => return Err("a double quote (\") is not closed".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(e) => word.get_or_insert_with(String::new).push(e),
                None => return Err("a backslash ends the line".into()),
            },
            ';' | '&' | '|' | '<' | '>' | '`' | '$' | '*' | '?' => return Err(shell(c)),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    if words.is_empty() {
        return Err("the command is empty".into());
    }
    Ok(words)
}

fn shell(c: char) -> String {
    format!(
        "'{c}' is shell syntax, and the command runs without a shell: put the command line in a script and give the script (with its arguments)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split_command(s).unwrap()
    }

    #[test]
    fn words_quotes_and_escapes() {
        assert_eq!(
            words("/usr/bin/python3 /root/metrics/x.py -f /root/metrics/traffic_green_full.csv -i green0 -m full"),
            [
                "/usr/bin/python3",
                "/root/metrics/x.py",
                "-f",
                "/root/metrics/traffic_green_full.csv",
                "-i",
                "green0",
                "-m",
                "full"
            ]
        );
        assert_eq!(words("a 'b c' \"d e\" f\\ g"), ["a", "b c", "d e", "f g"]);
        assert_eq!(
            words("x 'it''s' \"a\\\"b\\\\c\\n\""),
            ["x", "its", "a\"b\\c\\n"]
        );
        assert_eq!(words("p ''"), ["p", ""]);
        assert_eq!(words("  p\targ  "), ["p", "arg"]);
        assert_eq!(words("p '$HOME; ls *'"), ["p", "$HOME; ls *"]);
    }

    #[test]
    fn shell_syntax_and_bad_quotes_are_errors() {
        for line in [
            "cd /root && ./x.py",
            "x.py > out.log",
            "x.py | mail",
            "x.py; y",
            "x.py $HOME",
            "x.py *.csv",
            "x.py \"$HOME\"",
            "x.py `date`",
        ] {
            let e = split_command(line).unwrap_err();
            assert!(
                e.contains("shell syntax") && e.contains("script"),
                "{line}: {e}"
            );
        }
        assert_eq!(
            split_command("x 'y").unwrap_err(),
            "a single quote (') is not closed"
        );
        assert_eq!(
            split_command("x \"y").unwrap_err(),
            "a double quote (\") is not closed"
        );
        assert_eq!(
            split_command("x \\").unwrap_err(),
            "a backslash ends the line"
        );
        assert_eq!(split_command("   ").unwrap_err(), "the command is empty");
    }
}
