<?php
// Usage: write.php SESSION_ID
// Starts the session, sets user=alice and n=1, closes it. Prints the session data
// found when the session was opened (as JSON), so the driver can check it was empty.

require __DIR__ . '/common.php';

$id = session_id_arg($argv);
open_session($id);
$before = $_SESSION;
$_SESSION['user'] = 'alice';
$_SESSION['n'] = 1;
close_session();
print_json($before);
