//! The server's configuration: a TOML file, overridden by command-line flags, with defaults
//! that are safe on their own (loopback only, every limit bounded).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::duration::ConfigDuration;
use crate::listen::Listen;
use crate::size::ByteSize;

/// Everything the server needs to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Worker threads serving connections.
    pub threads: usize,
    /// The most memory the store may use for items; writes past it are refused, nothing is
    /// evicted.
    pub max_memory: ByteSize,
    /// The most client connections open at once, over all listeners.
    pub max_connections: usize,
    /// Connections idle this long are closed; zero disables the limit.
    pub idle_timeout: Duration,
    /// How long shutdown waits for open connections to finish before closing them.
    pub shutdown_timeout: Duration,
    /// The memcached listener's settings.
    pub memcache: MemcacheConfig,
}

/// The memcached listener's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemcacheConfig {
    /// Where it listens, or `off`.
    pub listen: Listen,
    /// The largest value a client may store (memcached's `-I`).
    pub max_item_size: ByteSize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_memory: ByteSize(1 << 30),
            max_connections: 4096,
            idle_timeout: Duration::from_secs(3600),
            shutdown_timeout: Duration::from_secs(5),
            memcache: MemcacheConfig {
                listen: Listen::On(([127, 0, 0, 1], 11211).into()),
                max_item_size: ByteSize(8 << 20),
            },
        }
    }
}

/// Settings given on the command line, each replacing the file's value when present.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--threads`.
    pub threads: Option<usize>,
    /// `--max-memory`.
    pub max_memory: Option<ByteSize>,
    /// `--max-connections`.
    pub max_connections: Option<usize>,
    /// `--idle-timeout`.
    pub idle_timeout: Option<ConfigDuration>,
    /// `--memcache-listen`.
    pub memcache_listen: Option<Listen>,
    /// `--max-item-size`.
    pub max_item_size: Option<ByteSize>,
}

/// Why the configuration could not be used. Every message names the setting at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML or has a bad value.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message, which names the setting and line.
        message: String,
    },
    /// A setting's value is out of range.
    #[error("{setting}: {message}")]
    Invalid {
        /// The setting, as written in the file.
        setting: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

impl Config {
    /// The configuration from `path` (or the defaults without one) with `overrides` applied,
    /// checked.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let file = match path {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                toml::from_str(&text).map_err(|error| ConfigError::Parse {
                    path: path.display().to_string(),
                    message: parse_message(&text, &error),
                })?
            }
        };
        let item_size_given = overrides.max_item_size.is_some()
            || file
                .memcache
                .as_ref()
                .is_some_and(|m| m.max_item_size.is_some());
        let mut config = Config::default();
        file.apply(&mut config);
        overrides.apply(&mut config);
        if !item_size_given {
            // A small memory limit alone should work: the default item size follows it down.
            config.memcache.max_item_size = config.memcache.max_item_size.min(config.max_memory);
        }
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |setting, message: &str| {
            Err(ConfigError::Invalid {
                setting,
                message: message.to_string(),
            })
        };
        if self.threads == 0 || self.threads > 1024 {
            return invalid("threads", "must be between 1 and 1024");
        }
        if self.max_memory.0 < 1 << 20 {
            return invalid("max_memory", "must be at least 1MiB");
        }
        if self.max_connections == 0 {
            return invalid("max_connections", "must be at least 1");
        }
        let item = self.memcache.max_item_size.0;
        if !(1024..=1 << 30).contains(&item) {
            return invalid("memcache.max_item_size", "must be between 1KiB and 1GiB");
        }
        if item > self.max_memory.0 {
            return invalid(
                "memcache.max_item_size",
                "must not be larger than max_memory",
            );
        }
        Ok(())
    }
}

/// The configuration file's shape: every setting optional, unknown settings refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    threads: Option<usize>,
    max_memory: Option<ByteSize>,
    max_connections: Option<usize>,
    idle_timeout: Option<ConfigDuration>,
    shutdown_timeout: Option<ConfigDuration>,
    memcache: Option<FileMemcache>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMemcache {
    listen: Option<Listen>,
    max_item_size: Option<ByteSize>,
}

impl FileConfig {
    fn apply(self, config: &mut Config) {
        set(&mut config.threads, self.threads);
        set(&mut config.max_memory, self.max_memory);
        set(&mut config.max_connections, self.max_connections);
        set(&mut config.idle_timeout, self.idle_timeout.map(|d| d.0));
        set(
            &mut config.shutdown_timeout,
            self.shutdown_timeout.map(|d| d.0),
        );
        if let Some(memcache) = self.memcache {
            set(&mut config.memcache.listen, memcache.listen);
            set(&mut config.memcache.max_item_size, memcache.max_item_size);
        }
    }
}

impl Overrides {
    fn apply(&self, config: &mut Config) {
        set(&mut config.threads, self.threads);
        set(&mut config.max_memory, self.max_memory);
        set(&mut config.max_connections, self.max_connections);
        set(&mut config.idle_timeout, self.idle_timeout.map(|d| d.0));
        set(&mut config.memcache.listen, self.memcache_listen.clone());
        set(&mut config.memcache.max_item_size, self.max_item_size);
    }
}

/// The parser's message with the line it is about, so it names the setting in one line:
/// `line 2 (max_memory = "x"): 'x' is not a size ...`.
fn parse_message(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim();
    let Some(span) = error.span() else {
        return message.to_string();
    };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let number = text[..line_start].matches('\n').count() + 1;
    format!(
        "line {number} ({}): {message}",
        text[line_start..line_end].trim()
    )
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn load_text(text: &str, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        Config::load(Some(file.path()), overrides)
    }

    #[test]
    fn defaults_listen_on_loopback_only() {
        let config = Config::load(None, &Overrides::default()).unwrap();
        let Listen::On(addr) = config.memcache.listen else {
            panic!("memcache listener off by default");
        };
        assert!(addr.ip().is_loopback());
        assert_eq!(addr.port(), 11211);
    }

    #[test]
    fn flags_override_the_file() {
        let overrides = Overrides {
            threads: Some(3),
            memcache_listen: Some(Listen::Off),
            ..Overrides::default()
        };
        let config = load_text(
            "threads = 1\nmax_memory = \"64MiB\"\n[memcache]\nlisten = \"127.0.0.1:1\"\n",
            &overrides,
        )
        .unwrap();
        assert_eq!(config.threads, 3);
        assert_eq!(config.max_memory, ByteSize(64 << 20));
        assert_eq!(config.memcache.listen, Listen::Off);
    }

    #[test]
    fn a_small_memory_limit_brings_the_default_item_size_down() {
        let overrides = Overrides {
            max_memory: Some(ByteSize(2 << 20)),
            ..Overrides::default()
        };
        let config = Config::load(None, &overrides).unwrap();
        assert_eq!(config.memcache.max_item_size, ByteSize(2 << 20));
    }

    #[test]
    fn bad_values_name_the_setting() {
        let error = load_text("max_memory = \"lots\"\n", &Overrides::default()).unwrap_err();
        assert!(
            error.to_string().contains("line 1 (max_memory = \"lots\")"),
            "{error}"
        );
        assert!(!error.to_string().contains('\n'), "{error}");
        let error = load_text("threads = 0\n", &Overrides::default()).unwrap_err();
        assert_eq!(error.to_string(), "threads: must be between 1 and 1024");
        let error = load_text("thread = 2\n", &Overrides::default()).unwrap_err();
        assert!(error.to_string().contains("thread"), "{error}");
    }
}
