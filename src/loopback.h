/*
 * loopback.h - the client side of a step program's --self-test: a TCP
 * connection to its own server on 127.0.0.1, and reading what comes back
 * without waiting forever for a server that is not written yet.
 */
#ifndef LOOPBACK_H
#define LOOPBACK_H

#include <stddef.h>

/* How long a read waits for the next bytes before it gives up. */
#define LOOPBACK_WAIT_MS 3000

/* A TCP connection to 127.0.0.1:port, or -1. */
int loopback_connect(int port);

/* Reads from fd into buf until it holds size - 1 bytes, the server closes
 * the connection (*eof = 1), or nothing came for LOOPBACK_WAIT_MS; then
 * ends the bytes with a NUL. Returns how many it read. */
size_t loopback_read(int fd, char *buf, size_t size, int *eof);

#endif
