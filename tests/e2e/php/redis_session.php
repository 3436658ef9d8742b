<?php
// Usage: redis_session.php write|read SESSION_ID
// A PHP session through phpredis's session handler (session.save_handler=redis, with
// redis.session.locking_enabled=1 given by the caller): `write` sets user=alice and n=1,
// `read` changes nothing. Prints the data found when the session was opened, as JSON.
// Run by crates/sessiond/tests/resp_scripting.rs; any warning fails the script.

declare(strict_types=1);

require __DIR__ . '/strict.php';

if (!extension_loaded('redis')) {
    fail('the redis extension is not loaded (install php-redis)');
}
if (ini_get('session.save_handler') !== 'redis') {
    fail('session.save_handler must be redis');
}
if (ini_get('redis.session.locking_enabled') !== '1') {
    fail('redis.session.locking_enabled must be 1');
}
$mode = $argv[1] ?? '';
$id = $argv[2] ?? '';
if (!in_array($mode, ['write', 'read'], true) || preg_match('/^[a-z0-9]{26}$/', $id) !== 1) {
    fail('usage: redis_session.php write|read SESSION_ID');
}
session_id($id);
if (session_start() !== true || session_id() !== $id) {
    fail("session_start() failed for session {$id}");
}
$before = $_SESSION;
if ($mode === 'write') {
    $_SESSION['user'] = 'alice';
    $_SESSION['n'] = 1;
}
if (session_write_close() !== true) {
    fail('session_write_close() failed');
}
echo json_encode($before, JSON_THROW_ON_ERROR), "\n";
