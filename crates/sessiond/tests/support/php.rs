//! Running the PHP CLI in end-to-end tests: `php -d SETTING ... SCRIPT ARGS` from
//! `tests/e2e/php/`, its output collected by background threads, its run bounded in time.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where the PHP scripts live.
pub const PHP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/e2e/php");

/// Upper bound for one PHP process.
pub const PHP_TIMEOUT: Duration = Duration::from_secs(120);

/// The `php -d` settings every session test shares: errors to stderr, php's serialization,
/// ids only from the script, no cookies, no garbage collection; then `handler`'s own.
pub fn session_settings(handler: &[String]) -> Vec<String> {
    let mut settings: Vec<String> = [
        "display_errors=stderr",
        "log_errors=0",
        "error_reporting=-1",
        "session.serialize_handler=php",
        "session.use_strict_mode=0",
        "session.use_cookies=0",
        "session.use_only_cookies=0",
        "session.cache_limiter=",
        "session.gc_probability=0",
    ]
    .map(str::to_owned)
    .to_vec();
    settings.extend_from_slice(handler);
    settings
}

/// Fresh 26-character [0-9a-f] session ids, unique per process and call.
pub fn new_session_id() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let id = format!(
        "{:08x}{n:04x}{:014x}",
        std::process::id(),
        nanos & ((1 << 56) - 1)
    );
    assert_eq!(id.len(), 26);
    id
}

/// Panics (with `install_hint`) unless `php` runs and has `extension` loaded; checked once
/// per extension and process.
pub fn require_extension(extension: &str, install_hint: &str) {
    static CHECKED: Mutex<Vec<(String, Result<(), String>)>> = Mutex::new(Vec::new());
    let mut checked = CHECKED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !checked.iter().any(|(name, _)| name == extension) {
        let check = Command::new("php")
            .args([
                "-r",
                &format!("echo PHP_VERSION, ' {extension}=', phpversion('{extension}') ?: 'missing';"),
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run `php`: {e}; {install_hint}"))
            .and_then(|output| {
                let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
                if !output.status.success() || stdout.ends_with("=missing") {
                    return Err(format!(
                        "`php` lacks the {extension} extension ({} {stdout:?} {:?}); {install_hint}",
                        output.status,
                        String::from_utf8_lossy(&output.stderr)
                    ));
                }
                Ok(())
            });
        checked.push((extension.to_owned(), check));
    }
    if let Some((_, Err(message))) = checked.iter().find(|(name, _)| name == extension) {
        panic!("{message}");
    }
}

/// A running PHP process whose output is collected by background threads. Killed on drop.
pub struct Php {
    description: String,
    child: Child,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl Php {
    /// Starts `php -d SETTING ... PHP_DIR/script ARGS`; `description` names it in failures,
    /// `install_hint` says how to get `php` when it cannot start.
    pub fn spawn(
        settings: &[String],
        script: &str,
        args: &[&str],
        description: String,
        install_hint: &str,
    ) -> Php {
        let mut command = Command::new("php");
        for setting in settings {
            command.arg("-d").arg(setting);
        }
        let mut child = command
            .arg(format!("{PHP_DIR}/{script}"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {description}: {e}; {install_hint}"));
        let stdout = child.stdout.take().map(read_to_end_in_background);
        let stderr = child.stderr.take().map(read_to_end_in_background);
        Php {
            description,
            child,
            stdout,
            stderr,
        }
    }

    /// Waits (until `deadline`) for the process and returns its stdout. Panics with the full
    /// output if it fails or runs out of time.
    pub fn finish(mut self, deadline: Instant) -> String {
        let status = wait_until(&mut self.child, deadline);
        let stdout = self.stdout.take().map(join_output).unwrap_or_default();
        let stderr = self.stderr.take().map(join_output).unwrap_or_default();
        match status {
            Some(status) if status.success() => stdout,
            status => panic!(
                "{} {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- end ---",
                self.description,
                match status {
                    Some(status) => format!("failed: {status}"),
                    None => format!("did not finish within {PHP_TIMEOUT:?} and was killed"),
                },
            ),
        }
    }
}

impl Drop for Php {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_to_end_in_background(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = pipe.read_to_end(&mut buffer);
        buffer
    })
}

fn join_output(handle: JoinHandle<Vec<u8>>) -> String {
    String::from_utf8_lossy(&handle.join().unwrap_or_default()).into_owned()
}

/// Waits for `child` until `deadline`; kills it and returns `None` when time runs out.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().expect("try_wait on php") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}
