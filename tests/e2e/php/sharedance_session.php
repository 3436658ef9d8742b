<?php
// Usage: sharedance_session.php ACTION [SESSION_ID]
// One "request" of a PHP application keeping its sessions in sharedance through the user
// handler in sharedance_handler.php (session.save_path=HOST:PORT).
//   start          starts a new session, sets count=1, prints the session id PHP generated
//   increment ID   prints the session data found (JSON), then increments count
//   read ID        prints the session data found (JSON), changes nothing
//   destroy ID     prints the session data found (JSON), then session_destroy()

require __DIR__ . '/sharedance_handler.php';

$action = $argv[1] ?? '';
switch ($action) {
    case 'start':
        open_session(null);
        if ($_SESSION !== []) {
            fail('a new session must start empty, found ' . json_encode($_SESSION));
        }
        $id = session_id();
        $_SESSION['count'] = 1;
        close_session();
        echo $id, "\n";
        break;

    case 'increment':
        open_session(session_id_arg($argv, 2));
        $before = $_SESSION;
        $_SESSION['count'] = ($_SESSION['count'] ?? 0) + 1;
        close_session();
        print_json($before);
        break;

    case 'read':
        open_session(session_id_arg($argv, 2));
        $data = $_SESSION;
        close_session();
        print_json($data);
        break;

    case 'destroy':
        open_session(session_id_arg($argv, 2));
        $data = $_SESSION;
        if (session_destroy() !== true) {
            fail('session_destroy() failed');
        }
        print_json($data);
        break;

    default:
        fail('first argument must be start, increment, read or destroy, got ' . var_export($action, true));
}
