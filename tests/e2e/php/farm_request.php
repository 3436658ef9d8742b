<?php
// One page request of a PHP application on a web farm whose session.save_path lists several
// servers, for crates/sessiond/tests/php_cluster.rs. Unlike the other scripts here, a warning
// does not end the script: on a farm a warning is logged and the page goes on (php-memcached
// warns, for example, when a server in the list refuses a connection and the lock is written to
// another one). The script reports what the page would have seen instead.
//
// Usage:
//   farm_request.php ID
//       session_start() (taking php-memcached's lock), counter + 1, session_write_close().
//       Prints one JSON line: {"started": bool, "before": int|null, "written": bool,
//       "warnings": [...]}. "started": session_start() returned true and $_SESSION was read
//       ("before" is the counter it held). "written": session_write_close() raised no
//       "Failed to write session data" warning, the only sign PHP gives of a failed write
//       (session_write_close() returns true either way).
//   farm_request.php --servers ID...
//       For each ID, the server of session.save_path that php-memcached's session handler
//       sends the session's key to, and the one for its lock key: "ID DATA LOCK" per line.
//       Uses the handler's hashing (memcached.sess_consistent_hash and _type).
//
// Exits non-zero only when the script itself cannot run (bad arguments, no extension).

declare(strict_types=1);

$warnings = [];
set_error_handler(static function (int $errno, string $message) use (&$warnings): bool {
    $warnings[] = $message;
    return true;
});

function fail(string $message): never
{
    fwrite(STDERR, "FAIL: {$message}\n");
    exit(1);
}

if (!extension_loaded('memcached')) {
    fail('the memcached extension is not loaded (install php-memcached)');
}
if (ini_get('session.save_handler') !== 'memcached') {
    fail('session.save_handler must be memcached');
}

/** A Memcached client over session.save_path, hashing keys as the session handler does. */
function session_handler_hashing(): Memcached
{
    $memcached = new Memcached();
    foreach (preg_split('/[\s,]+/', trim((string) ini_get('session.save_path'))) as $server) {
        if (preg_match('/^(.+):([0-9]+)(?::[0-9]+)?$/', $server, $m) !== 1) {
            fail('session.save_path entries must be HOST:PORT, got ' . var_export($server, true));
        }
        $memcached->addServer($m[1], (int) $m[2]);
    }
    if (ini_get('memcached.sess_consistent_hash') === '1') {
        if (ini_get('memcached.sess_consistent_hash_type') === 'ketama_weighted') {
            $memcached->setOption(Memcached::OPT_LIBKETAMA_COMPATIBLE, true);
        } else {
            // MEMCACHED_BEHAVIOR_KETAMA, which the handler sets for "ketama" (the default);
            // setOption passes libmemcached behaviours it has no constant for through.
            $memcached->setOption(3, 1);
        }
    }
    return $memcached;
}

if (($argv[1] ?? '') === '--servers') {
    $memcached = session_handler_hashing();
    foreach (array_slice($argv, 2) as $id) {
        $data = $memcached->getServerByKey($id);
        $lock = $memcached->getServerByKey("lock.{$id}");
        if ($data === false || $lock === false) {
            fail("no server for {$id}");
        }
        echo "{$id} {$data['host']}:{$data['port']} {$lock['host']}:{$lock['port']}\n";
    }
    exit(0);
}

$id = $argv[1] ?? '';
if (preg_match('/^[a-z0-9]{26}$/', $id) !== 1) {
    fail('the argument must be a 26-character [a-z0-9] session id, got ' . var_export($id, true));
}

session_id($id);
$started = session_start();
$before = null;
$written = false;
if ($started) {
    $before = $_SESSION['counter'] ?? 0;
    if (!is_int($before)) {
        fail('counter is not an integer: ' . var_export($before, true));
    }
    $_SESSION['counter'] = $before + 1;
    $seen = count($warnings);
    session_write_close();
    $written = true;
    foreach (array_slice($warnings, $seen) as $warning) {
        if (str_contains($warning, 'Failed to write session data')) {
            $written = false;
        }
    }
}
echo json_encode(
    ['started' => $started, 'before' => $before, 'written' => $written, 'warnings' => $warnings],
    JSON_THROW_ON_ERROR
), "\n";
