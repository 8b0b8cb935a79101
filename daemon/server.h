/*
 * smkeyd's socket layer: the Unix socket, its clients and their limits,
 * written once for every method (methods.c answers the calls).
 *
 * At accept the peer is recorded as the kernel saw it (SO_PEERCRED,
 * SO_PEERGROUPS, /proc/PID/exe) and never asked again. Every client is
 * bounded: message size; one call in flight (varlink answers in order: the
 * next call is read when the last reply has gone to the kernel, so a client
 * that sends calls and reads no replies is simply not served further); bytes
 * queued for a client that does not read (past the bound it is dropped);
 * idle time (no call and no byte, or no reply byte taken). A malformed message is answered with an
 * error and the connection closed; the loop never blocks and never trusts a byte.
 */
#ifndef SMK_SERVER_H
#define SMK_SERVER_H

#include <stddef.h>

#include "common/err.h"
#include "daemon/engine.h"

struct event_base;

typedef struct server_limits {
	size_t max_clients;	  /* connections at once; one more is told TooManyRequests */
	size_t max_message;	  /* bytes of one received message, without its NUL */
	size_t max_output;	  /* bytes queued for a client that does not read */
	unsigned idle_timeout_ms; /* no call and no byte for this long: closed (0: never) */
} server_limits;

/* 64 clients, 64 KiB messages, 16 MiB queued, 60 s idle. */
void server_limits_default(server_limits *lim);

enum server_log_level { SERVER_LOG_ERR, SERVER_LOG_WARNING, SERVER_LOG_INFO, SERVER_LOG_DEBUG };
/* Where the socket layer reports (default: stderr). Never given a secret. */
typedef void (*server_log_fn)(void *ctx, enum server_log_level level, const char *msg);

typedef struct server server;

/* The server answers on base with eng; lim NULL takes the defaults. */
server *server_new(struct event_base *base, engine *eng, const server_limits *lim, smk_err *e);
void server_set_log(server *srv, server_log_fn fn, void *ctx);
/* Listen on a Unix socket path, created with mode 0660. An existing socket
 * that nobody answers on (a crashed daemon's) is replaced; a live one, or a
 * file that is not a socket, is refused. */
int server_listen_path(server *srv, const char *path, smk_err *e);
/* Adopt a listening Unix stream socket (from systemd or a test). */
int server_listen_fd(server *srv, int fd, smk_err *e);
/* Adopt the sockets systemd passed (sdn_listen_fds). Returns how many (0 when
 * not socket-activated), or -1. */
int server_listen_systemd(server *srv, smk_err *e);
/* Clients connected now. */
size_t server_client_count(const server *srv);
/* Close every client (telling the engine to forget pending ones), stop
 * listening, remove the socket path it created, free. */
void server_free(server *srv);

#endif
