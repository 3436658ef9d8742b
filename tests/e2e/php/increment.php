<?php
// Usage: increment.php SESSION_ID ITERATIONS SLEEP_MICROSECONDS
// ITERATIONS times: session_start() (which waits for the session lock), read
// $_SESSION['counter'], sleep, store counter + 1, session_write_close() (which writes
// and releases the lock). Without working locks, concurrent runs lose updates.
// Prints "done ITERATIONS".

require __DIR__ . '/common.php';

$id = session_id_arg($argv);
$iterations = int_arg($argv, 2, 'iterations');
$sleep_us = int_arg($argv, 3, 'sleep microseconds');

for ($i = 0; $i < $iterations; $i++) {
    open_session($id);
    $counter = $_SESSION['counter'] ?? 0;
    if (!is_int($counter)) {
        fail('counter is not an integer: ' . var_export($counter, true));
    }
    usleep($sleep_us);
    $_SESSION['counter'] = $counter + 1;
    close_session();
}
echo "done {$iterations}\n";
