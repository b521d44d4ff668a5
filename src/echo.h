/*
 * echo.h - a line echo, the smallest handler for the server of lesson 07
 * (src/server.h): each line a client sends comes back to it. Two lines
 * do more: "big" is answered with ECHO_BIG bytes (a reply a client may
 * not read, to watch the server go on serving the others), and "bye" is
 * echoed and then the connection is finished. A line longer than
 * ECHO_MAX_LINE, or a client idle for idle_ms, is closed.
 * Lesson 07's step program serves it, and its tests grade the server
 * with it.
 */
#ifndef ECHO_H
#define ECHO_H

#include "server.h"

#define ECHO_MAX_LINE 1024
#define ECHO_BIG      (8u << 20)

/* The handler; its arg is idle_ms, which must outlive the server. A
 * newcomer refused at the cap is told "busy". */
struct server_handler echo_handler(long *idle_ms);

#endif
