//! The settings format both binaries share: one TOML file, then `FUNNYHAT_…` environment variables
//! on top (`FUNNYHAT_HTTP__LISTEN` sets `http.listen`). Unknown keys are errors, and every error is
//! one line naming the key and where it came from (the file, or the variable) — never the value,
//! since values include secrets. The caller reads the file and the environment; this module only
//! parses, so it is pure and tested here — except [`load`], the one function in this crate that reads
//! anything (the settings file and the process environment), kept here so both binaries share it.

use serde::de::DeserializeOwned;
use std::fmt;
use std::path::Path;

/// The `[log]` section both binaries share.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter such as `info,bridge=debug`; `RUST_LOG` wins when set.
    #[serde(default = "default_filter")]
    pub filter: String,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One JSON object a line, for log shipping.
    #[default]
    Json,
    /// For people at a terminal.
    Text,
}

fn default_filter() -> String {
    "info".to_owned()
}

/// Why settings could not be loaded: one line, fit to print before exiting with code 2.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("settings file {path}: {reason}")]
    Unreadable {
        path: String,
        reason: std::io::Error,
    },
    #[error(transparent)]
    Invalid(#[from] SettingsError),
}

/// Reads the settings file (when given) and the `FUNNYHAT_…` environment, then [`parse`]s them.
pub fn load<T: DeserializeOwned>(path: Option<&Path>) -> Result<T, LoadError> {
    let text = path
        .map(|p| {
            std::fs::read_to_string(p).map_err(|reason| LoadError::Unreadable {
                path: p.display().to_string(),
                reason,
            })
        })
        .transpose()?;
    let name = path.map_or_else(
        || "(no settings file)".to_owned(),
        |p| p.display().to_string(),
    );
    // FUNNYHAT_CONFIG names the file itself (see each binary's --config) and is not a key.
    let env = std::env::vars().filter(|(k, _)| k != "FUNNYHAT_CONFIG");
    Ok(parse(&name, text.as_deref(), env, "FUNNYHAT_")?)
}

/// Where a setting came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    File(String),
    Env(String),
    /// Not set anywhere (a missing required key).
    Nowhere {
        file: String,
        env: String,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "in {path}"),
            Self::Env(var) => write!(f, "in environment variable {var}"),
            Self::Nowhere { file, env } => write!(f, "set it in {file} or as {env}"),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("settings file {file}: syntax error at line {line}, column {column}: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("settings: unknown key `{key}` {origin}{hint}")]
    UnknownKey {
        key: String,
        origin: Origin,
        hint: String,
    },
    #[error("settings: missing key `{key}` ({origin})")]
    MissingKey { key: String, origin: Origin },
    #[error("settings: bad value for `{key}` {origin}: {message}")]
    BadValue {
        key: String,
        origin: Origin,
        message: String,
    },
    #[error("settings: environment variable {var} does not name a key")]
    BadEnvName { var: String },
}

/// Parses settings from the file's text (`None` when there is no file) and the environment.
///
/// `prefix` is `FUNNYHAT_`; variables without it are ignored. `T` should use
/// `#[serde(deny_unknown_fields)]` on every struct so a misspelt key is an error, not a silent default.
pub fn parse<T: DeserializeOwned>(
    file_name: &str,
    file_text: Option<&str>,
    env: impl IntoIterator<Item = (String, String)>,
    prefix: &str,
) -> Result<T, SettingsError> {
    let mut root = match file_text {
        Some(text) => text
            .parse::<toml::Table>()
            .map_err(|e| syntax_error(file_name, text, &e))?,
        None => toml::Table::new(),
    };
    let mut from_env: Vec<(Vec<String>, String)> = Vec::new();
    for (var, value) in env {
        let Some(rest) = var.strip_prefix(prefix) else {
            continue;
        };
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if path.iter().any(String::is_empty) {
            return Err(SettingsError::BadEnvName { var });
        }
        insert(&mut root, &path, env_value(&value))
            .map_err(|()| SettingsError::BadEnvName { var: var.clone() })?;
        from_env.push((path, var));
    }
    let origin_of = |key: &str| {
        from_env
            .iter()
            .find(|(path, _)| path.join(".") == key)
            .map(|(_, var)| Origin::Env(var.clone()))
            .unwrap_or_else(|| Origin::File(file_name.to_owned()))
    };
    serde_path_to_error::deserialize(toml::Value::Table(root)).map_err(|e| {
        let at = e.path().to_string();
        let at = if at == "." { String::new() } else { at };
        let message = e.inner().message().to_owned();
        let join = |field: &str| {
            if at.is_empty() {
                field.to_owned()
            } else {
                format!("{at}.{field}")
            }
        };
        if let Some(field) = between(&message, "unknown field `", "`") {
            // serde_path_to_error already appends the unknown field to the path.
            let key = if at == field || at.ends_with(&format!(".{field}")) {
                at.clone()
            } else {
                join(field)
            };
            let hint = message
                .split_once(", expected ")
                .map(|(_, exp)| format!(" (expected {exp})"))
                .unwrap_or_default();
            SettingsError::UnknownKey {
                origin: origin_of(&key),
                key,
                hint,
            }
        } else if let Some(field) = between(&message, "missing field `", "`") {
            let key = join(field);
            let env = format!("{prefix}{}", key.replace('.', "__").to_ascii_uppercase());
            SettingsError::MissingKey {
                key,
                origin: Origin::Nowhere {
                    file: file_name.to_owned(),
                    env,
                },
            }
        } else {
            SettingsError::BadValue {
                origin: origin_of(&at),
                key: at,
                message: redact(&message),
            }
        }
    })
}

fn syntax_error(file: &str, text: &str, e: &toml::de::Error) -> SettingsError {
    let offset = e.span().map_or(0, |s| s.start);
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    // The message alone: toml's full Display quotes the offending line, which may hold a secret.
    SettingsError::Syntax {
        file: file.to_owned(),
        line,
        column,
        message: e.message().trim().to_owned(),
    }
}

/// An environment value as TOML when it reads as a bool, number or array, as a string otherwise.
fn env_value(raw: &str) -> toml::Value {
    let trimmed = raw.trim();
    let looks_typed = matches!(trimmed, "true" | "false")
        || trimmed.starts_with('[')
        || (!trimmed.is_empty()
            && trimmed
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'-' || b == b'.' || b == b'_'));
    if looks_typed
        && let Ok(table) = format!("v = {trimmed}").parse::<toml::Table>()
        && let Some(v) = table.get("v")
    {
        return v.clone();
    }
    toml::Value::String(raw.to_owned())
}

fn insert(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), ()> {
    match path {
        [] => Err(()),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(inner) => insert(inner, rest, value),
                _ => Err(()),
            }
        }
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

/// Serde quotes the offending value in type errors (`invalid type: string "postgres://u:pw@…"`);
/// a value may be a secret, so quoted text is dropped.
fn redact(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(i) = rest.find('"') {
        out.push_str(&rest[..i]);
        out.push_str("(value hidden)");
        rest = match rest[i + 1..].find('"') {
            Some(j) => &rest[i + 1 + j + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Http {
        listen: String,
        #[serde(default)]
        workers: u16,
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Demo {
        http: Http,
        #[serde(default)]
        debug: bool,
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn parse_demo(text: Option<&str>, vars: &[(&str, &str)]) -> Result<Demo, SettingsError> {
        parse("shop.toml", text, env(vars), "FUNNYHAT_")
    }

    #[test]
    fn file_then_env_overrides() {
        let d = parse_demo(
            Some("[http]\nlisten = \"127.0.0.1:1\"\n"),
            &[
                ("FUNNYHAT_HTTP__WORKERS", "4"),
                ("FUNNYHAT_DEBUG", "true"),
                ("OTHER", "x"),
            ],
        )
        .unwrap();
        assert_eq!(
            d,
            Demo {
                http: Http {
                    listen: "127.0.0.1:1".into(),
                    workers: 4
                },
                debug: true
            }
        );
        let d = parse_demo(None, &[("FUNNYHAT_HTTP__LISTEN", "127.0.0.1:2")]).unwrap();
        assert_eq!(d.http.listen, "127.0.0.1:2");
    }

    #[test]
    fn unknown_keys_name_key_and_origin() {
        let e = parse_demo(Some("[http]\nlisten = \"x\"\nlisen = \"y\"\n"), &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "settings: unknown key `http.lisen` in shop.toml (expected `listen` or `workers`)"
        );
        let e = parse_demo(
            Some("[http]\nlisten = \"x\"\n"),
            &[("FUNNYHAT_HTTP__PORT", "1")],
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with(
                "settings: unknown key `http.port` in environment variable FUNNYHAT_HTTP__PORT"
            ),
            "{e}"
        );
        let e = parse_demo(Some("nonsense = 1\n[http]\nlisten = \"x\"\n"), &[]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("settings: unknown key `nonsense` in shop.toml"),
            "{e}"
        );
    }

    #[test]
    fn missing_keys_say_how_to_set_them() {
        let e = parse_demo(Some("[http]\n"), &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "settings: missing key `http.listen` (set it in shop.toml or as FUNNYHAT_HTTP__LISTEN)"
        );
    }

    #[test]
    fn syntax_errors_give_the_line_but_never_the_text() {
        let e = parse_demo(Some("[http]\nlisten = \"s3cr3t\n"), &[]).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("settings file shop.toml: syntax error at line 2"),
            "{text}"
        );
        assert!(!text.contains("s3cr3t"), "{text}");
    }

    #[test]
    fn bad_values_never_echo_the_value() {
        let e = parse_demo(
            Some("[http]\nlisten = \"x\"\nworkers = \"hunter2hunter2\"\n"),
            &[],
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("settings: bad value for `http.workers` in shop.toml"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn env_names_must_map_to_keys() {
        let e = parse_demo(
            Some("[http]\nlisten = \"x\"\n"),
            &[("FUNNYHAT_HTTP____X", "1")],
        )
        .unwrap_err();
        assert!(matches!(e, SettingsError::BadEnvName { .. }));
    }
}
