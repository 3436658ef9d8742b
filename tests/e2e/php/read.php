<?php
// Usage: read.php SESSION_ID
// Starts the session, closes it without changes and prints its data as JSON.

require __DIR__ . '/common.php';

$id = session_id_arg($argv);
open_session($id);
$data = $_SESSION;
close_session();
print_json($data);
