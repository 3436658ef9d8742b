//! Running the PHP CLI in end-to-end tests: `php -d SETTING ... SCRIPT ARGS` from
//! `tests/e2e/php/`, its output collected by background threads, its run bounded in time.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Where the PHP scripts live.
pub const PHP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/e2e/php");

/// Upper bound for one PHP process.
pub const PHP_TIMEOUT: Duration = Duration::from_secs(120);

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
