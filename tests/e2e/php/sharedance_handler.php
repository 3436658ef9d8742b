<?php
// A PHP user session handler that speaks sharedance exactly as sharedance's bundled PHP client
// does (protocols.md §3.4), written for the tests from the protocol description:
// - one TCP connection per operation (fsockopen, 10 s connect timeout), closed afterwards;
// - lengths as 32-bit big-endian integers (pack('N', ...));
// - store: `S keylen datalen key data`, the reply line must be exactly "OK\n";
// - fetch: `F keylen key`, the value is everything up to EOF; nothing at all is a miss;
// - delete: `D keylen key`, the reply line must be exactly "OK\n";
// - the key is the raw session id; read returns '' on a miss; gc does nothing (the server
//   expires sessions itself).
//
// Included by sharedance_session.php, run by crates/sessiond/tests/sharedance_php.rs with
//   php -d session.save_path=127.0.0.1:PORT ... sharedance_session.php ACTION [ID]
// Any PHP warning or notice (a failed store makes PHP warn) turns into an exception, so a
// script fails with a non-zero exit status and the reason on stderr.

declare(strict_types=1);

require_once __DIR__ . '/strict.php';

/** Printable rendering of protocol bytes, for messages. */
function show_bytes(string $bytes): string
{
    return '"' . addcslashes($bytes, "\0..\37\177..\377\"\\") . '"';
}

final class SharedanceSessionHandler implements SessionHandlerInterface
{
    private const CONNECT_TIMEOUT = 10;
    /** Bounds every read, so a server that never closes fails the script instead of hanging. */
    private const READ_TIMEOUT = 10;

    private string $host = '';
    private int $port = 1042;

    public function open(string $path, string $name): bool
    {
        if (preg_match('/^(.+):([0-9]+)$/', $path, $m) !== 1) {
            fail('session.save_path must be HOST:PORT, got ' . var_export($path, true));
        }
        $this->host = $m[1];
        $this->port = (int) $m[2];
        return true;
    }

    public function close(): bool
    {
        return true;
    }

    public function read(string $id): string|false
    {
        $value = $this->fetch($id);
        return $value === false ? '' : $value;
    }

    public function write(string $id, string $data): bool
    {
        return $this->store($id, $data);
    }

    public function destroy(string $id): bool
    {
        return $this->delete($id);
    }

    public function gc(int $max_lifetime): int|false
    {
        return 0;
    }

    /** Stores $data under $key; true when the server answered exactly "OK\n". */
    public function store(string $key, string $data): bool
    {
        $fp = $this->connect();
        $this->send($fp, 'S' . pack('NN', strlen($key), strlen($data)) . $key . $data);
        $reply = fgets($fp);
        fclose($fp);
        if ($reply !== "OK\n") {
            fwrite(STDERR, "sharedance store of {$key}: expected \"OK\\n\", got "
                . ($reply === false ? 'nothing' : show_bytes($reply)) . "\n");
            return false;
        }
        return true;
    }

    /** The value stored under $key, read until the server closes; false on a miss. */
    public function fetch(string $key): string|false
    {
        $fp = $this->connect();
        $this->send($fp, 'F' . pack('N', strlen($key)) . $key);
        $data = '';
        while (!feof($fp)) {
            $chunk = fread($fp, 4096);
            if ($chunk === false || stream_get_meta_data($fp)['timed_out']) {
                fclose($fp);
                fail("sharedance fetch of {$key}: the server neither answered nor closed within "
                    . self::READ_TIMEOUT . ' s; received ' . show_bytes($data));
            }
            $data .= $chunk;
        }
        fclose($fp);
        return $data === '' ? false : $data;
    }

    /** Deletes $key; true when the server answered exactly "OK\n". */
    public function delete(string $key): bool
    {
        $fp = $this->connect();
        $this->send($fp, 'D' . pack('N', strlen($key)) . $key);
        $reply = fgets($fp);
        fclose($fp);
        if ($reply !== "OK\n") {
            fwrite(STDERR, "sharedance delete of {$key}: expected \"OK\\n\", got "
                . ($reply === false ? 'nothing' : show_bytes($reply)) . "\n");
            return false;
        }
        return true;
    }

    /** @return resource */
    private function connect()
    {
        $fp = fsockopen($this->host, $this->port, $errno, $errstr, self::CONNECT_TIMEOUT);
        if ($fp === false) {
            fail("cannot connect to sharedance at {$this->host}:{$this->port}: {$errstr} ({$errno})");
        }
        stream_set_timeout($fp, self::READ_TIMEOUT);
        return $fp;
    }

    /** @param resource $fp */
    private function send($fp, string $request): void
    {
        $written = fwrite($fp, $request);
        if ($written !== strlen($request)) {
            fail('sent ' . var_export($written, true) . ' of ' . strlen($request) . ' request bytes');
        }
    }
}

function install_sharedance_session_handler(): void
{
    if (session_set_save_handler(new SharedanceSessionHandler(), true) !== true) {
        fail('session_set_save_handler() failed');
    }
}

/** A session id given on the command line: what PHP itself generates, [a-zA-Z0-9,-]. */
function session_id_arg(array $argv, int $n): string
{
    $id = $argv[$n] ?? '';
    if (preg_match('/^[a-zA-Z0-9,-]{22,256}$/', $id) !== 1) {
        fail("argument {$n} must be a session id, got " . var_export($id, true));
    }
    return $id;
}

/** session_start(), on $id when given, else on a new session id PHP generates. */
function open_session(?string $id): void
{
    if (session_status() !== PHP_SESSION_NONE) {
        fail('a session is already active');
    }
    if ($id !== null) {
        session_id($id);
    }
    if (session_start() !== true) {
        fail('session_start() failed');
    }
    if ($id !== null && session_id() !== $id) {
        fail('session_start() switched to session id ' . var_export(session_id(), true));
    }
}

/** session_write_close(): the handler's write must get "OK\n". */
function close_session(): void
{
    if (session_write_close() !== true) {
        fail('session_write_close() failed');
    }
}

function print_json(mixed $value): void
{
    echo json_encode($value, JSON_THROW_ON_ERROR), "\n";
}

install_sharedance_session_handler();
