/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vpcd side: the card is the TCP client of vpcd. Every message is a
 * 2-byte big-endian length and that many bytes; from vpcd a 1-byte message
 * is a control code (00 power off, 01 power on, 02 reset, 04 send the ATR),
 * anything longer a command APDU (docs/design.md "vpcd framing"). A closed
 * connection is a removed card, so a fault that resets or pulls the card
 * drops the connection and comes back.
 */
#include "sim/vpcd.h"

#include "common/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define VPCD_POWER_OFF 0x00
#define VPCD_POWER_ON 0x01
#define VPCD_RESET 0x02
#define VPCD_ATR 0x04

static int connect_vpcd(const sim_vpcd_opts *o)
{
	smk_err ignore; /* the caller says "waiting for vpcd" once */

	return smk_tcp_connect(o->host ? o->host : "127.0.0.1", o->port, &ignore);
}

static int read_full(int fd, uint8_t *p, size_t n)
{
	int one = 1;

	while (n) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		/* vpcd writes a frame's 2-byte length and its APDU separately
		 * without TCP_NODELAY: under Nagle the APDU waits for our ACK of
		 * the length, which delayed ACK holds back ~40 ms. Acknowledge at
		 * once (Linux clears quick-ACK mode by itself, so after every read). */
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int send_frame(int fd, const uint8_t *p, size_t n)
{
	uint8_t hdr[2] = {(uint8_t)(n >> 8), (uint8_t)n};
	struct iovec iov[2] = {{hdr, 2}, {(void *)p, n}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
	size_t want = n + 2;
	ssize_t w;

	if (n > 0xFFFF)
		return -1;
	w = sendmsg(fd, &m, MSG_NOSIGNAL);
	if (w == (ssize_t)want)
		return 0;
	if (w < 2) /* a response fits the socket buffer; anything else is a broken peer */
		return -1;
	for (size_t done = (size_t)w - 2; done < n;) {
		ssize_t r = send(fd, p + done, n - done, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

/* Wait up to ms while answering control requests; stops early on *stop. */
static void idle(sim_card *c, const sim_vpcd_opts *o, unsigned ms, volatile sig_atomic_t *stop)
{
	struct timespec t0, now;
	long left = ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (left > 0 && !*stop) {
		struct pollfd p = {.fd = o->control_fd, .events = POLLIN};

		if (poll(&p, o->control_fd >= 0 ? 1 : 0, (int)left) == 1)
			sim_control_serve(c, o->control_fd);
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = (long)ms -
		       ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000);
	}
}

enum served { SERVED_GONE, SERVED_RESET, SERVED_REMOVED, SERVED_STOP };

/* Answer vpcd until the connection ends or a fault pulls the card. */
static enum served serve(sim_card *c, int fd, const sim_vpcd_opts *o, volatile sig_atomic_t *stop)
{
	smk_buf resp = SMK_BUF_INIT;
	uint8_t hdr[2], msg[65536];
	enum served why = SERVED_GONE;

	while (!*stop) {
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
				      {.fd = o->control_fd, .events = POLLIN}};
		size_t n;
		int r;

		r = poll(p, o->control_fd >= 0 ? 2 : 1, 500);
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		if (o->control_fd >= 0 && (p[1].revents & POLLIN))
			sim_control_serve(c, o->control_fd);
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (read_full(fd, hdr, 2) < 0)
			break;
		n = (size_t)hdr[0] << 8 | hdr[1];
		if (n == 0 || read_full(fd, msg, n) < 0)
			break;
		if (n == 1) {
			switch (msg[0]) {
			case VPCD_POWER_OFF:
			case VPCD_POWER_ON:
			case VPCD_RESET:
				sim_card_reset(c);
				break;
			case VPCD_ATR: {
				size_t alen;
				const uint8_t *atr = sim_card_atr(&alen);

				if (send_frame(fd, atr, alen) < 0)
					goto out;
				break;
			}
			default:
				break; /* unknown control codes are ignored, as vpcd's own cards do
					*/
			}
			continue;
		}
		r = sim_card_transmit(c, msg, n, &resp);
		if (r == SIM_RESET) {
			why = SERVED_RESET;
			break;
		}
		if (r == SIM_REMOVED) {
			why = SERVED_REMOVED;
			break;
		}
		if (r < 0) {
			static const uint8_t sw_mem[2] = {0x6F, 0x00};

			if (send_frame(fd, sw_mem, 2) < 0)
				break;
			continue;
		}
		if (send_frame(fd, resp.data, resp.len) < 0)
			break;
	}
	if (*stop)
		why = SERVED_STOP;
out:
	smk_buf_free(&resp);
	return why;
}

int sim_vpcd_run(sim_card *c, const sim_vpcd_opts *o, volatile sig_atomic_t *stop, smk_err *e)
{
	bool said_waiting = false;

	if (o->port == 0 || o->port > 65535)
		return smk_fail(e, SMK_E_ARG, "vpcd: port %u out of range", o->port);
	while (!*stop) {
		int fd = connect_vpcd(o);
		enum served why;

		if (fd < 0) {
			if (!said_waiting && !o->quiet)
				fprintf(stderr, "smkey-sim: waiting for vpcd on %s:%u\n",
					o->host ? o->host : "127.0.0.1", o->port);
			said_waiting = true;
			idle(c, o, o->retry_ms, stop);
			continue;
		}
		said_waiting = false;
		if (!o->quiet)
			fprintf(stderr, "smkey-sim: card %s inserted (vpcd port %u)\n",
				sim_card_chr(c), o->port);
		/* a new connection is a freshly inserted card */
		sim_card_reset(c);
		why = serve(c, fd, o, stop);
		close(fd);
		if (!o->quiet && why != SERVED_STOP)
			fprintf(stderr, "smkey-sim: card %s %s\n", sim_card_chr(c),
				why == SERVED_RESET	? "reset by fault"
				: why == SERVED_REMOVED ? "removed by fault"
							: "disconnected from vpcd");
		if (why == SERVED_REMOVED)
			idle(c, o, sim_card_removed_ms(c), stop);
		sim_card_reset(c);
	}
	return 0;
}
