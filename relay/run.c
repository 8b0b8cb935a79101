/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The relay program's loop: find the local card, reach vpcd (a TCP
 * connection, or a command such as "ssh -W 127.0.0.1:35963 notary" whose
 * stdin and stdout carry the stream), serve it, and when either side goes
 * away release the card and try again with backoff.
 */
#include "relay/relay.h"

#include <errno.h>
#include <fnmatch.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/net.h"
#include "common/show.h"
#include "sm/pcsc.h"

#define RELAY_LIST_TIMEOUT_MS 5000
#define RELAY_CONNECT_TIMEOUT_MS 10000

#define say(...) relay_say("smkey relay", __VA_ARGS__)

void relay_say(const char *prog, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", prog, line);
}

static void log_line(void *ctx, const char *line)
{
	(void)ctx;
	say("%s", line);
}

int relay_parse_addr(const char *what, const char *s, char *host, size_t cap, unsigned *port,
		     smk_err *e)
{
	const char *colon, *h = s;
	size_t hlen;
	char *end;
	unsigned long p;

	if (s == NULL || *s == '\0')
		return smk_fail(e, SMK_E_ARG, "%s: give HOST:PORT, e.g. 127.0.0.1:35963", what);
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return smk_fail(e, SMK_E_ARG,
					"%s \"%s\": write an IPv6 address as "
					"[ADDR]:PORT",
					what, smk_show(s));
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || strchr(s, ':') != colon)
			return smk_fail(e, SMK_E_ARG,
					"%s \"%s\": give HOST:PORT, e.g. "
					"127.0.0.1:35963",
					what, smk_show(s));
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= cap)
		return smk_fail(e, SMK_E_ARG, "%s \"%s\": host missing or too long", what,
				smk_show(s));
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno || p == 0 || p > 65535)
		return smk_fail(e, SMK_E_ARG, "%s \"%s\": port must be 1..65535", what,
				smk_show(s));
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (unsigned)p;
	return 0;
}

int relay_parse_hostport(const char *s, char *host, size_t cap, unsigned *port, smk_err *e)
{
	return relay_parse_addr("--connect", s, host, cap, port, e);
}

/* ---- the local card ---- */

struct card_ctx {
	char reader[256];
	unsigned timeout_ms;
};

static int open_card(void *ctx, smk_transport **out, smk_err *e)
{
	struct card_ctx *c = ctx;

	return pcsc_open(c->reader, c->timeout_ms, out, e);
}

/* The first reader whose name matches the pattern. */
static int find_reader(const char *pattern, char *out, size_t cap, smk_err *e)
{
	char **names = NULL;
	size_t n = 0, i;
	int found = -1;

	if (pcsc_list_readers(&names, &n, RELAY_LIST_TIMEOUT_MS, e) < 0)
		return -1;
	for (i = 0; i < n; i++)
		if (fnmatch(pattern, names[i], 0) == 0 && strlen(names[i]) < cap) {
			snprintf(out, cap, "%s", names[i]);
			found = 0;
			break;
		}
	pcsc_free_names(names);
	if (found < 0)
		smk_fail(e, SMK_E_IO, "no reader matches \"%s\" (%zu reader%s)", smk_show(pattern),
			 n, n == 1 ? "" : "s");
	return found;
}

/* ---- the vpcd side ---- */

struct remote {
	int fd;
	pid_t child; /* the --via command, or 0 */
};

static int connect_tcp(const char *hostport, struct remote *r, smk_err *e)
{
	char host[256];
	unsigned p;

	if (relay_parse_hostport(hostport, host, sizeof(host), &p, e) < 0)
		return -1;
	r->fd = smk_tcp_connect(host, p, e);
	r->child = 0;
	return r->fd < 0 ? smk_context(e, "vpcd") : 0;
}

/* sh -c COMMAND with one end of a socket pair as its stdin and stdout; its
 * stderr stays ours (ssh's messages reach the relay's log). */
static int connect_via(const char *cmd, struct remote *r, smk_err *e)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return smk_fail(e, SMK_E_IO, "--via: socketpair: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return smk_fail(e, SMK_E_IO, "--via: fork: %s", strerror(errno));
	}
	if (pid == 0) {
		if (dup2(sv[1], 0) < 0 || dup2(sv[1], 1) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	r->fd = sv[0];
	r->child = pid;
	return 0;
}

static void remote_close(struct remote *r)
{
	int status, i;

	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	if (r->child <= 0)
		return;
	/* the command sees its stdin close; give it a moment, then end it */
	for (i = 0; i < 20; i++) {
		struct timespec t = {0, 50 * 1000000L};

		if (waitpid(r->child, &status, WNOHANG) == r->child) {
			r->child = 0;
			return;
		}
		if (i == 4)
			kill(r->child, SIGTERM);
		nanosleep(&t, NULL);
	}
	kill(r->child, SIGKILL);
	waitpid(r->child, &status, 0);
	r->child = 0;
}

/* Serve one vpcd connection until it ends, the card fails or *stop. Returns
 * the number of APDUs answered. */
static unsigned long serve(relay *rl, struct remote *rm, volatile sig_atomic_t *stop, char *why,
			   size_t cap)
{
	static relay_parser parser; /* 64 KiB: not on the stack */
	smk_buf out = SMK_BUF_INIT;
	unsigned long before = rl->st.total;
	uint8_t in[4096];
	smk_err e;
	int one = 1;

	relay_parser_init(&parser);
	snprintf(why, cap, "stopped");
	while (!*stop) {
		struct pollfd p = {.fd = rm->fd, .events = POLLIN};
		size_t off = 0, used;
		ssize_t n;
		int r = poll(&p, 1, 500);

		if (r < 0 && errno != EINTR) {
			snprintf(why, cap, "poll: %s", strerror(errno));
			break;
		}
		if (r <= 0)
			continue;
		n = read(rm->fd, in, sizeof(in));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(why, cap, "%s",
				 n == 0 ? "the remote side closed the connection"
					: strerror(errno));
			break;
		}
		/* vpcd writes a frame's length and its APDU separately: do not
		 * let delayed ACK hold the second part back (ignored on a
		 * socket pair) */
		setsockopt(rm->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
		while (off < (size_t)n) {
			int got = relay_parse(&parser, in + off, (size_t)n - off, &used, &e);

			off += used;
			if (got < 0 ||
			    (got == 1 && relay_handle(rl, parser.msg, parser.len, &out, &e) < 0)) {
				snprintf(why, cap, "%s", e.msg);
				goto done;
			}
		}
		if (out.len && smk_send_all(rm->fd, out.data, out.len) < 0) {
			snprintf(why, cap, "writing to the remote side: %s", strerror(errno));
			break;
		}
		smk_buf_reset(&out);
	}
done:
	smk_buf_free(&out);
	return rl->st.total - before;
}

static void pause_ms(unsigned ms, volatile sig_atomic_t *stop)
{
	while (ms > 0 && !*stop) {
		unsigned step = ms > 100 ? 100 : ms;
		struct timespec t = {0, (long)step * 1000000L};

		nanosleep(&t, NULL);
		ms -= step;
	}
}

/* Say why once (not again while the reason stays the same), wait, and
 * double the wait for next time. */
static void retry_later(const char *what, const smk_err *why, char *last, size_t cap,
			unsigned *backoff, const relay_opts *o, volatile sig_atomic_t *stop)
{
	if (why && strcmp(last, why->msg) != 0) {
		say("%s: %s", what, why->msg);
		snprintf(last, cap, "%s", why->msg);
	}
	pause_ms(*backoff, stop);
	*backoff = *backoff * 2 > o->retry_max_ms ? o->retry_max_ms : *backoff * 2;
}

int relay_run(const relay_opts *o, volatile sig_atomic_t *stop, smk_err *e)
{
	struct card_ctx cc = {.timeout_ms = o->card_timeout_ms};
	unsigned backoff = o->retry_min_ms, attempts = 0;
	char why[600], last[600] = "";
	relay rl;

	if (o->reader == NULL || (o->connect == NULL) == (o->via == NULL))
		return smk_fail(e, SMK_E_ARG, "relay: a reader and one of --connect, --via needed");
	relay_init(&rl, open_card, &cc, o->card_timeout_ms);
	rl.log = log_line;
	say("relaying a card in a reader matching \"%s\" to %s%s", smk_show(o->reader),
	    o->via ? "the command " : "vpcd at ", smk_show(o->via ? o->via : o->connect));
	while (!*stop && (o->attempts == 0 || attempts < o->attempts)) {
		struct remote rm = {.fd = -1};
		unsigned long served;
		smk_err ce;

		smk_err_clear(&ce);
		/* a card first: vpcd takes a connection for an inserted card */
		if (find_reader(o->reader, cc.reader, sizeof(cc.reader), &ce) < 0 ||
		    relay_probe(&rl, &ce) < 0) {
			retry_later("waiting for the card", &ce, last, sizeof(last), &backoff, o,
				    stop);
			continue;
		}
		attempts++;
		if ((o->via ? connect_via(o->via, &rm, &ce) : connect_tcp(o->connect, &rm, &ce)) <
		    0) {
			retry_later("cannot reach vpcd", &ce, last, sizeof(last), &backoff, o,
				    stop);
			continue;
		}
		last[0] = '\0';
		say("card in reader \"%s\" offered to the remote reader", smk_show(cc.reader));
		served = serve(&rl, &rm, stop, why, sizeof(why));
		relay_power_off(&rl);
		remote_close(&rm);
		say("connection ended after %lu APDU%s (%lu in all): %s", served,
		    served == 1 ? "" : "s", rl.st.total, why);
		/* a connection that carried commands was a working one: start
		 * the backoff afresh; the card stays out of vpcd's reader long
		 * enough for pcscd to see it go (RELAY_CARD_OUT_MS) */
		if (served > 0)
			backoff = o->retry_min_ms;
		if (backoff < RELAY_CARD_OUT_MS)
			backoff = RELAY_CARD_OUT_MS;
		retry_later(NULL, NULL, last, sizeof(last), &backoff, o, stop);
	}
	return 0;
}
