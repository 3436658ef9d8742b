<?php
// Shared helpers for the php-memcached session scripts in this directory.
//
// The scripts are run by crates/sessiond/tests/php_sessions.rs with
//   php -d session.save_handler=memcached -d session.save_path=127.0.0.1:PORT \
//       -d memcached.sess_locking=1 -d memcached.sess_binary_protocol=0|1 ... SCRIPT ARGS
// They print their result on stdout and exit non-zero (with a reason on stderr) on any
// failure: every PHP warning or notice is turned into an exception.

declare(strict_types=1);

require_once __DIR__ . '/strict.php';

function require_memcached_session_handler(): void
{
    if (!extension_loaded('memcached')) {
        fail('the memcached extension is not loaded (install php-memcached)');
    }
    if (ini_get('session.save_handler') !== 'memcached') {
        fail('session.save_handler is ' . var_export(ini_get('session.save_handler'), true)
            . ', expected memcached');
    }
    if (ini_get('memcached.sess_locking') !== '1') {
        fail('memcached.sess_locking must be 1');
    }
}

/** The session id given as the first argument: 26 characters [a-z0-9]. */
function session_id_arg(array $argv): string
{
    $id = $argv[1] ?? '';
    if (preg_match('/^[a-z0-9]{26}$/', $id) !== 1) {
        fail('first argument must be a 26-character [a-z0-9] session id, got ' . var_export($id, true));
    }
    return $id;
}

/** Positive integer argument number $n. */
function int_arg(array $argv, int $n, string $what): int
{
    $value = $argv[$n] ?? '';
    if (preg_match('/^[0-9]+$/', $value) !== 1) {
        fail("argument {$n} ({$what}) must be a non-negative integer, got " . var_export($value, true));
    }
    return (int) $value;
}

/** session_start() on the given id; takes the php-memcached session lock. */
function open_session(string $id): void
{
    if (session_status() !== PHP_SESSION_NONE) {
        fail('a session is already active');
    }
    session_id($id);
    if (session_start() !== true) {
        fail("session_start() failed for session {$id}");
    }
    if (session_id() !== $id) {
        fail('session_start() switched to session id ' . var_export(session_id(), true));
    }
}

/** session_write_close(): writes the data and releases the lock. */
function close_session(): void
{
    if (session_write_close() !== true) {
        fail('session_write_close() failed');
    }
    if (session_status() !== PHP_SESSION_NONE) {
        fail('session still active after session_write_close()');
    }
}

function print_json(mixed $value): void
{
    echo json_encode($value, JSON_THROW_ON_ERROR), "\n";
}

require_memcached_session_handler();
