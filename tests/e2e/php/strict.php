<?php
// What every PHP test script here starts with: every PHP warning or notice is turned into an
// exception (the script exits non-zero), and fail() exits with a reason on stderr.

declare(strict_types=1);

error_reporting(E_ALL);
set_error_handler(static function (int $errno, string $message, string $file, int $line): bool {
    throw new ErrorException($message, 0, $errno, $file, $line);
});

function fail(string $message): never
{
    fwrite(STDERR, "FAIL: {$message}\n");
    exit(1);
}
