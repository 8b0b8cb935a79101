/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey relay-gate (relay/gate.h): the message rules (which vpcd messages
 * cross the link, which the gate answers) and the program's loop (listen,
 * take one relay, join it to vpcd, count, close both together). The vpcd
 * stream is parsed with the relay's own parser (relay/vpcd.c); APDUs pass
 * as opaque bytes and never reach the log.
 */
#include "relay/gate.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/net.h"
#include "common/show.h"
#include "relay/relay.h"

/* what the card side owes vpcd */
enum { OWES_APDU = 1, OWES_ATR, OWES_STALE_ATR };

void gate_init(gate *g)
{
	memset(g, 0, sizeof(*g));
}

static int owe(gate *g, uint8_t kind, smk_err *e)
{
	if (g->npending == GATE_PENDING_MAX)
		return smk_fail(e, SMK_E_FORMAT,
				"vpcd sent %d messages without waiting for an answer (not vpcd)",
				GATE_PENDING_MAX + 1);
	g->pending[g->npending++] = kind;
	return 0;
}

/* A power-on or reset: the ATR may change, so the next request crosses, and
 * an answer still owed from before it is not kept (vpcd waits for each
 * answer, so there is none; this holds for any peer). */
static void forget_atr(gate *g)
{
	size_t i;

	g->atr_len = 0;
	for (i = 0; i < g->npending; i++)
		if (g->pending[i] == OWES_ATR)
			g->pending[i] = OWES_STALE_ATR;
}

int gate_from_vpcd(gate *g, const uint8_t *msg, size_t n, smk_buf *to_card, smk_buf *to_vpcd,
		   smk_err *e)
{
	if (n == 0)
		return smk_fail(e, SMK_E_FORMAT, "vpcd stream: an empty message");
	if (n > 1) {
		g->st.apdus++;
		if (owe(g, OWES_APDU, e) < 0)
			return -1;
		return relay_frame(to_card, msg, n, e);
	}
	switch (msg[0]) {
	case RELAY_VPCD_ATR:
		/* answered here only with nothing owed: an answer out of turn
		 * would reach vpcd as the answer to an earlier message */
		if (g->atr_len > 0 && g->npending == 0) {
			g->st.atr_local++;
			return relay_frame(to_vpcd, g->atr, g->atr_len, e);
		}
		g->st.atr_forwarded++;
		if (owe(g, OWES_ATR, e) < 0)
			return -1;
		break;
	case RELAY_VPCD_POWER_ON:
		g->st.power_ons++;
		forget_atr(g);
		break;
	case RELAY_VPCD_RESET:
		g->st.resets++;
		forget_atr(g);
		break;
	case RELAY_VPCD_POWER_OFF:
		g->st.power_offs++;
		break;
	default:
		/* no answer expected: vpcd's cards ignore unknown codes */
		g->st.unknown++;
		break;
	}
	return relay_frame(to_card, msg, n, e);
}

int gate_from_card(gate *g, const uint8_t *msg, size_t n, smk_buf *to_vpcd, smk_err *e)
{
	uint8_t kind;

	if (g->npending == 0)
		return smk_fail(e, SMK_E_FORMAT, "a message of %zu bytes that vpcd did not ask for",
				n);
	kind = g->pending[0];
	memmove(g->pending, g->pending + 1, --g->npending);
	if (kind == OWES_ATR) {
		/* one too long to keep is passed on, and every request crosses */
		g->atr_len = 0;
		if (n <= sizeof(g->atr)) {
			memcpy(g->atr, msg, n);
			g->atr_len = n;
		}
	}
	return relay_frame(to_vpcd, msg, n, e);
}

void gate_stats_text(const gate_stats *st, char *out, size_t cap)
{
	int n = snprintf(out, cap,
			 "%lu APDU%s; ATR requests: %lu answered here, %lu crossed the link; "
			 "power on %lu, reset %lu, off %lu",
			 st->apdus, st->apdus == 1 ? "" : "s", st->atr_local, st->atr_forwarded,
			 st->power_ons, st->resets, st->power_offs);

	if (st->unknown && n >= 0 && (size_t)n < cap)
		snprintf(out + n, cap - (size_t)n, "; %lu unknown control codes", st->unknown);
}

/* ---- the program ---- */

#define say(...) relay_say("smkey relay-gate", __VA_ARGS__)

static int listen_on(const char *host, unsigned port, smk_err *e)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
			*res, *ai;
	char service[8];
	int fd = -1, one = 1, rc, err = EADDRNOTAVAIL;

	snprintf(service, sizeof(service), "%u", port);
	rc = getaddrinfo(host, service, &hints, &res);
	if (rc != 0)
		return smk_fail(e, SMK_E_IO, "--listen %s:%u: %s", smk_show(host), port,
				gai_strerror(rc));
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4) != 0) {
			err = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return smk_fail(e, SMK_E_IO, "--listen %s:%u: %s", smk_show(host), port,
				strerror(err));
	return fd;
}

/* The relay's socket: small messages answered one at a time (no Nagle),
 * and a link that dies without a word is noticed within about a minute
 * (keepalive), so vpcd sees the card go then. */
static void tune_relay_socket(int fd)
{
	int one = 1, idle = 30, intvl = 10, cnt = 3;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

static void peer_text(const struct sockaddr_storage *ss, socklen_t len, char *out, size_t cap)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getnameinfo((const struct sockaddr *)ss, len, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(out, cap, "(unknown address)");
	else if (ss->ss_family == AF_INET6)
		snprintf(out, cap, "[%s]:%s", host, serv);
	else
		snprintf(out, cap, "%s:%s", host, serv);
}

/* One relay at a time: a second one is told so by a closed connection (its
 * own backoff paces its retries). */
static void turn_away(int lfd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char peer[NI_MAXHOST + NI_MAXSERV + 4];
	int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	peer_text(&ss, len, peer, sizeof(peer));
	close(fd);
	say("a second relay from %s turned away: one relay at a time", peer);
}

enum { SIDE_VPCD, SIDE_CARD };

struct side {
	int fd;
	const char *name;
	relay_parser *parser;
};

/* Read what one side sent and act on its complete messages. Returns 0, or
 * -1 with why set when the side closed or broke the protocol. */
static int take_in(gate *g, struct side *s, int which, smk_buf *to_card, smk_buf *to_vpcd,
		   char *why, size_t cap)
{
	uint8_t in[4096];
	size_t off = 0, used;
	ssize_t n;
	smk_err e;
	int one = 1;

	n = read(s->fd, in, sizeof(in));
	if (n < 0 && errno == EINTR)
		return 0;
	if (n <= 0) {
		snprintf(why, cap, "%s %s", s->name,
			 n == 0 ? "closed the connection" : strerror(errno));
		return -1;
	}
	/* vpcd writes a frame's length and its APDU separately: do not let
	 * delayed ACK hold the second part back */
	setsockopt(s->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
	while (off < (size_t)n) {
		int got = relay_parse(s->parser, in + off, (size_t)n - off, &used, &e);

		off += used;
		if (got == 1)
			got = which == SIDE_VPCD
				  ? gate_from_vpcd(g, s->parser->msg, s->parser->len, to_card,
						   to_vpcd, &e)
				  : gate_from_card(g, s->parser->msg, s->parser->len, to_vpcd, &e);
		if (got < 0) {
			snprintf(why, cap, "%s: %s", s->name, e.msg);
			return -1;
		}
	}
	return 0;
}

/* Join one relay to vpcd until either goes away or *stop. */
static void serve(gate *g, int card_fd, int vpcd_fd, int lfd, volatile sig_atomic_t *stop,
		  char *why, size_t cap)
{
	static relay_parser from_vpcd, from_card; /* 64 KiB each: not on the stack */
	struct side sides[2] = {{vpcd_fd, "vpcd", &from_vpcd}, {card_fd, "the relay", &from_card}};
	smk_buf to_card = SMK_BUF_INIT, to_vpcd = SMK_BUF_INIT;
	int i;

	relay_parser_init(&from_vpcd);
	relay_parser_init(&from_card);
	snprintf(why, cap, "stopped");
	while (!*stop) {
		struct pollfd p[3] = {
		    {.fd = vpcd_fd, .events = POLLIN},
		    {.fd = card_fd, .events = POLLIN},
		    {.fd = lfd, .events = POLLIN},
		};
		int r = poll(p, 3, 500);

		if (r < 0 && errno != EINTR) {
			snprintf(why, cap, "poll: %s", strerror(errno));
			break;
		}
		if (r <= 0)
			continue;
		if (p[2].revents & POLLIN)
			turn_away(lfd);
		for (i = SIDE_VPCD; i <= SIDE_CARD; i++)
			if ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    take_in(g, &sides[i], i, &to_card, &to_vpcd, why, cap) < 0)
				goto done;
		if (to_card.len && smk_send_all(card_fd, to_card.data, to_card.len) < 0) {
			snprintf(why, cap, "writing to the relay: %s", strerror(errno));
			break;
		}
		if (to_vpcd.len && smk_send_all(vpcd_fd, to_vpcd.data, to_vpcd.len) < 0) {
			snprintf(why, cap, "writing to vpcd: %s", strerror(errno));
			break;
		}
		smk_buf_reset(&to_card);
		smk_buf_reset(&to_vpcd);
	}
done:
	smk_buf_free(&to_card);
	smk_buf_free(&to_vpcd);
}

/* A relay that comes back quickly waits until the card has been out of
 * vpcd's reader for RELAY_CARD_OUT_MS (relay.h says why); closed_at: when
 * the gate last closed vpcd, zero before the first. */
static void stay_out(const struct timespec *closed_at, volatile sig_atomic_t *stop)
{
	struct timespec now;
	long long out_ms;

	if (closed_at->tv_sec == 0 && closed_at->tv_nsec == 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	out_ms = (long long)(now.tv_sec - closed_at->tv_sec) * 1000 +
		 (now.tv_nsec - closed_at->tv_nsec) / 1000000;
	while (out_ms < RELAY_CARD_OUT_MS && !*stop) {
		long long step =
		    RELAY_CARD_OUT_MS - out_ms > 100 ? 100 : RELAY_CARD_OUT_MS - out_ms;
		struct timespec t = {0, (long)step * 1000000L};

		nanosleep(&t, NULL);
		out_ms += step;
	}
}

int gate_run(const gate_opts *o, volatile sig_atomic_t *stop, smk_err *e)
{
	char lhost[256], vhost[256], last[600] = "";
	struct timespec closed_at = {0, 0}; /* when vpcd saw the card go last */
	unsigned lport, vport;
	int lfd;

	if (relay_parse_addr("--listen", o->listen, lhost, sizeof(lhost), &lport, e) < 0 ||
	    relay_parse_addr("--vpcd", o->vpcd, vhost, sizeof(vhost), &vport, e) < 0)
		return -1;
	lfd = listen_on(lhost, lport, e);
	if (lfd < 0)
		return -1;
	say("listening on %s for one relay at a time, joined to vpcd at %s", smk_show(o->listen),
	    smk_show(o->vpcd));
	while (!*stop) {
		struct pollfd p = {.fd = lfd, .events = POLLIN};
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char peer[NI_MAXHOST + NI_MAXSERV + 4], why[600], text[300];
		int cfd, vfd, r = poll(&p, 1, 500);
		smk_err ce;
		gate g;

		if (r <= 0)
			continue;
		cfd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		peer_text(&ss, len, peer, sizeof(peer));
		stay_out(&closed_at, stop);
		vfd = smk_tcp_connect(vhost, vport, &ce);
		if (vfd < 0) {
			/* the relay retries with backoff; say it once per reason */
			if (strcmp(last, ce.msg) != 0)
				say("relay from %s turned away: cannot reach vpcd: %s", peer,
				    ce.msg);
			snprintf(last, sizeof(last), "%s", ce.msg);
			close(cfd);
			continue;
		}
		last[0] = '\0';
		tune_relay_socket(cfd);
		gate_init(&g);
		say("relay from %s joined to vpcd", peer);
		serve(&g, cfd, vfd, lfd, stop, why, sizeof(why));
		/* both go together: vpcd sees the card removed, the relay
		 * releases the card and connects again */
		close(vfd);
		close(cfd);
		clock_gettime(CLOCK_MONOTONIC, &closed_at);
		gate_stats_text(&g.st, text, sizeof(text));
		say("relay from %s ended (%s), vpcd connection closed: %s", peer, why, text);
	}
	close(lfd);
	return 0;
}
