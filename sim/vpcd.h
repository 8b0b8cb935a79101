/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey-sim behind pcscd: the vpcd framing client (docs/design.md "vpcd
 * framing") and the control socket that programs faults at run time.
 */
#ifndef SMK_SIM_VPCD_H
#define SMK_SIM_VPCD_H

#include <signal.h>

#include "common/buf.h"
#include "common/err.h"
#include "sim/card.h"

#define SIM_VPCD_PORT 35963

typedef struct sim_vpcd_opts {
	const char *host;  /* vpcd's address, "127.0.0.1" by default */
	unsigned port;	   /* the reader's port */
	unsigned retry_ms; /* wait between connection attempts */
	int control_fd;	   /* listening control socket, or -1 */
	bool quiet;	   /* no connect/disconnect messages on stderr */
} sim_vpcd_opts;

/* Serve the card to vpcd until *stop is set: connect, answer, and connect
 * again whenever vpcd goes away or a fault pulls the card. Returns 0 when
 * stopped, -1 on a setup error. */
int sim_vpcd_run(sim_card *c, const sim_vpcd_opts *o, volatile sig_atomic_t *stop, smk_err *e);

/* Control socket (docs/simulator.md): a Unix stream socket; each connection
 * carries one request line and gets one reply line ("ok ..." or
 * "error ..."). */
int sim_control_listen(const char *path, smk_err *e);
/* Accept and answer one request on the listening socket. */
void sim_control_serve(sim_card *c, int listen_fd);
/* Client side: send one request, reply (without newline) into reply. */
int sim_control_request(const char *path, const char *line, smk_buf *reply, smk_err *e);

#endif
