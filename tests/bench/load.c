/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smk-load: a varlink load generator for tests/bench/run (bench 5).
 *
 *   smk-load SOCKET call METHOD PARAMS_JSON SECONDS CONNECTIONS [DEPTH]
 *	CONNECTIONS connections on one epoll loop; each keeps DEPTH calls
 *	in flight (default 1: send a call, wait for its reply, send the next,
 *	as a varlink client does). Counts the replies that arrive within
 *	SECONDS after a short warm-up, and the latency of each (call sent to
 *	reply read). Prints one JSON line:
 *	{"calls":..,"wall_s":..,"calls_per_s":..,"latency_us":{"p50":..}, ...}
 *   smk-load SOCKET hold CONNECTIONS SECONDS
 *	CONNECTIONS connections, one ListPolicies call answered on each, all
 *	kept open for SECONDS; prints {"open":N} once every one is answered.
 *
 * Every reply is checked: it must be one JSON object with a "parameters"
 * object and no "error" (nor "continues"). A reply byte-identical to the
 * connection's first, fully checked, reply is accepted as such; any other
 * is parsed and checked again. The first failure ends the run with exit 1.
 *
 * Build: cc -O2 -o smk-load tests/bench/load.c $(pkg-config --cflags --libs jansson)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define WARMUP_NS 300000000LL /* replies in the first 0.3 s are not counted */
#define MAX_DEPTH 64

struct conn {
	int fd;
	char *in; /* received bytes not yet taken as replies */
	size_t len, cap;
	size_t scanned;		    /* in[0..scanned) holds no NUL */
	size_t out_off;		    /* bytes of the pending send already written */
	size_t to_send;		    /* calls queued but not written */
	int64_t sent_at[MAX_DEPTH]; /* ring of send times of calls in flight */
	unsigned head, inflight;
	char *ref; /* the first reply, checked in full */
	size_t ref_len;
};

struct run {
	const char *msg;
	size_t msg_len;
	int64_t start, end; /* counting window */
	uint64_t calls;
	uint32_t *lat; /* ns of each counted call, capped at 4.29 s */
	size_t nlat, caplat;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "smk-load: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		die("socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect: %s", strerror(errno));
	return fd;
}

/* NULL when text is a successful, final varlink reply; else why not. */
static const char *reply_problem(const char *text, size_t len)
{
	static char why[256];
	json_error_t je;
	json_t *v = json_loadb(text, len, 0, &je), *p;

	if (v == NULL) {
		snprintf(why, sizeof(why), "reply is not JSON: %s", je.text);
		return why;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		return "reply is not a JSON object";
	}
	if (json_object_get(v, "error") != NULL) {
		snprintf(why, sizeof(why), "error reply: %.200s", text);
		json_decref(v);
		return why;
	}
	p = json_object_get(v, "parameters");
	if (!json_is_object(p) || json_is_true(json_object_get(v, "continues"))) {
		json_decref(v);
		return "reply has no parameters object, or continues";
	}
	json_decref(v);
	return NULL;
}

static void check_reply(struct conn *c, const char *text, size_t len)
{
	const char *why;

	if (c->ref != NULL && len == c->ref_len && memcmp(text, c->ref, len) == 0)
		return;
	why = reply_problem(text, len);
	if (why)
		die("%s", why);
	if (c->ref == NULL) {
		c->ref = malloc(len);
		if (c->ref == NULL)
			die("%s", "out of memory");
		memcpy(c->ref, text, len);
		c->ref_len = len;
	}
}

/* Write queued calls; 0 when all are out, 1 when the socket is full. */
static int flush_calls(struct run *r, struct conn *c)
{
	while (c->to_send > 0) {
		ssize_t n = send(c->fd, r->msg + c->out_off, r->msg_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			die("send: %s", strerror(errno));
		}
		c->out_off += (size_t)n;
		if (c->out_off == r->msg_len) {
			c->out_off = 0;
			c->to_send--;
		}
	}
	return 0;
}

static void queue_call(struct conn *c)
{
	c->sent_at[(c->head + c->inflight) % MAX_DEPTH] = now_ns();
	c->inflight++;
	c->to_send++;
}

static void count(struct run *r, int64_t sent, int64_t t)
{
	int64_t d = t - sent;

	if (t < r->start || t >= r->end)
		return;
	r->calls++;
	if (r->nlat == r->caplat) {
		r->caplat = r->caplat ? 2 * r->caplat : 1 << 16;
		r->lat = realloc(r->lat, r->caplat * sizeof(*r->lat));
		if (r->lat == NULL)
			die("%s", "out of memory");
	}
	r->lat[r->nlat++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

/* Read what is there; take every whole reply. Returns replies taken. */
static unsigned read_replies(struct run *r, struct conn *c)
{
	unsigned got = 0;
	size_t off = 0;
	char *nul;
	ssize_t n;

	for (;;) {
		size_t room;

		if (c->cap - c->len < 65536) {
			c->cap = c->cap ? 2 * c->cap : 1 << 17;
			c->in = realloc(c->in, c->cap);
			if (c->in == NULL)
				die("%s", "out of memory");
		}
		room = c->cap - c->len;
		n = recv(c->fd, c->in + c->len, room, MSG_DONTWAIT);
		if (n == 0)
			die("%s", "the daemon closed a connection");
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			die("recv: %s", strerror(errno));
		}
		c->len += (size_t)n;
		if ((size_t)n < room)
			break; /* a short read: the socket is drained */
	}
	while ((nul = memchr(c->in + c->scanned, 0, c->len - c->scanned)) != NULL) {
		size_t len = (size_t)(nul - c->in) - off;

		if (c->inflight == 0)
			die("%s", "a reply to no call");
		check_reply(c, c->in + off, len);
		if (r)
			count(r, c->sent_at[c->head], now_ns());
		c->head = (c->head + 1) % MAX_DEPTH;
		c->inflight--;
		off += len + 1;
		c->scanned = off;
		got++;
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->len - off);
		c->len -= off;
	}
	c->scanned = c->len;
	return got;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_us(const struct run *r, double p)
{
	size_t i;

	if (r->nlat == 0)
		return 0;
	i = (size_t)(p * (double)(r->nlat - 1) + 0.5);
	return r->lat[i] / 1000.0;
}

static char *call_message(const char *method, const char *params_json)
{
	json_error_t je;
	json_t *params = json_loads(params_json, 0, &je), *msg;
	char *text;

	if (!json_is_object(params))
		die("PARAMS_JSON must be a JSON object: %s", params_json);
	msg = json_pack("{ssso}", "method", method, "parameters", params);
	text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	if (text == NULL)
		die("%s", "cannot encode the call");
	json_decref(msg);
	return text;
}

static int run_calls(const char *path, const char *method, const char *params, double secs,
		     int nconn, int depth)
{
	struct epoll_event ev, evs[256];
	struct conn *conns = calloc((size_t)nconn, sizeof(*conns));
	struct run r;
	char *text = call_message(method, params);
	int ep = epoll_create1(EPOLL_CLOEXEC), i, k, n;
	int64_t t0;

	if (conns == NULL || ep < 0)
		die("%s", "setup failed");
	memset(&r, 0, sizeof(r));
	r.msg = text;
	r.msg_len = strlen(text) + 1; /* the NUL ends the message */
	for (i = 0; i < nconn; i++) {
		conns[i].fd = connect_to(path);
		ev.events = EPOLLIN;
		ev.data.ptr = &conns[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0)
			die("epoll_ctl: %s", strerror(errno));
	}
	t0 = now_ns();
	r.start = t0 + WARMUP_NS;
	r.end = r.start + (int64_t)(secs * 1e9);
	for (i = 0; i < nconn; i++) {
		for (k = 0; k < depth; k++)
			queue_call(&conns[i]);
		if (flush_calls(&r, &conns[i]))
			die("%s", "the first calls do not fit in the socket");
	}
	while (now_ns() < r.end) {
		n = epoll_wait(ep, evs, 256, 100);
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			unsigned got;

			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				got = read_replies(&r, c);
				while (got--)
					queue_call(c);
			}
			if (flush_calls(&r, c)) {
				ev.events = EPOLLIN | EPOLLOUT;
				ev.data.ptr = c;
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			} else if (evs[i].events & EPOLLOUT) {
				ev.events = EPOLLIN;
				ev.data.ptr = c;
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			}
		}
	}
	qsort(r.lat, r.nlat, sizeof(*r.lat), cmp_u32);
	printf("{\"method\":\"%s\",\"clients\":%d,\"depth\":%d,\"calls\":%llu,\"wall_s\":%.3f,"
	       "\"calls_per_s\":%.0f,\"failures\":0,\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,"
	       "\"p99\":%.1f,\"max\":%.1f}}\n",
	       method, nconn, depth, (unsigned long long)r.calls, secs, (double)r.calls / secs,
	       pct_us(&r, 0.50), pct_us(&r, 0.90), pct_us(&r, 0.99),
	       r.nlat ? r.lat[r.nlat - 1] / 1000.0 : 0.0);
	for (i = 0; i < nconn; i++) {
		close(conns[i].fd);
		free(conns[i].in);
		free(conns[i].ref);
	}
	free(conns);
	free(r.lat);
	free(text);
	close(ep);
	return 0;
}

/* Open n connections, one answered ListPolicies on each, then hold them. */
static int run_hold(const char *path, int nconn, double secs)
{
	struct conn *conns = calloc((size_t)nconn, sizeof(*conns));
	struct run r;
	char *text = call_message("io.smkeyd.ListPolicies", "{}");
	struct timespec ts;
	int i;

	if (conns == NULL)
		die("%s", "out of memory");
	memset(&r, 0, sizeof(r));
	r.msg = text;
	r.msg_len = strlen(text) + 1;
	for (i = 0; i < nconn; i++) {
		struct conn *c = &conns[i];

		c->fd = connect_to(path);
		queue_call(c);
		while (flush_calls(&r, c))
			;
		while (c->inflight > 0) {
			struct timespec nap = {0, 100000};

			if (read_replies(NULL, c) == 0)
				nanosleep(&nap, NULL);
		}
		free(c->in);
		c->in = NULL;
		c->len = c->cap = c->scanned = 0;
	}
	printf("{\"open\":%d}\n", nconn);
	fflush(stdout);
	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
	for (i = 0; i < nconn; i++) {
		close(conns[i].fd);
		free(conns[i].ref);
	}
	free(conns);
	free(text);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: smk-load SOCKET call METHOD PARAMS_JSON SECONDS CONNECTIONS "
			"[DEPTH]\n"
			"       smk-load SOCKET hold CONNECTIONS SECONDS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc >= 7 && argc <= 8 && strcmp(argv[2], "call") == 0) {
		double secs = atof(argv[5]);
		int nconn = atoi(argv[6]), depth = argc == 8 ? atoi(argv[7]) : 1;

		if (secs <= 0 || nconn < 1 || depth < 1 || depth > MAX_DEPTH)
			usage();
		return run_calls(argv[1], argv[3], argv[4], secs, nconn, depth);
	}
	if (argc == 5 && strcmp(argv[2], "hold") == 0) {
		int nconn = atoi(argv[3]);

		if (nconn < 1)
			usage();
		return run_hold(argv[1], nconn, atof(argv[4]));
	}
	usage();
	return 2;
}
