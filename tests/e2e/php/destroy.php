<?php
// Usage: destroy.php SESSION_ID
// Starts the session and destroys it. Prints the data the session held (as JSON).

require __DIR__ . '/common.php';

$id = session_id_arg($argv);
open_session($id);
$before = $_SESSION;
if (session_destroy() !== true) {
    fail('session_destroy() failed');
}
print_json($before);
