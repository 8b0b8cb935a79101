/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A TCP connection to HOST:PORT, the way the simulator and the relay reach
 * vpcd: every address getaddrinfo gives, in order, close-on-exec, with
 * TCP_NODELAY (vpcd's messages are small and answered one at a time).
 */
#ifndef SMK_NET_H
#define SMK_NET_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* The connected socket, or -1 with e saying "HOST:PORT: why" (SMK_E_IO). */
int smk_tcp_connect(const char *host, unsigned port, smk_err *e);
/* All n bytes of p to socket fd (send, no SIGPIPE; EINTR retried): 0, or -1
 * with errno set when the peer is gone or the socket fails. */
int smk_send_all(int fd, const uint8_t *p, size_t n);

#endif
