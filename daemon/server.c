/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The socket layer (see server.h). One libevent loop; each client is a
 * bufferevent plus a varlink reader. The call protocol is sequential: while
 * a call is in flight its connection's further bytes stay unread in the
 * bufferevent (a high watermark stops the kernel reads), so a client can
 * never have more than one call and one chunk of bytes on our side.
 *
 * Connections are freed only from their own deferred event, never inside an
 * engine callback or a libevent callback that still uses them.
 */
#include "server.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/show.h"
#include "daemon/methods.h"
#include "daemon/sdnotify.h"
#include "daemon/slots.h"
#include "proto/varlink.h"
#include "varlink_errors.h"

#define READ_CHUNK 16384 /* bytes taken from a client per step */
#define MAX_LISTENERS 8
#define MAX_PEER_GROUPS 65536

struct server_conn {
	TAILQ_ENTRY(server_conn) entry;
	server *srv;
	struct bufferevent *bev;
	struct event *resume; /* deferred: read the next call, or free */
	engine_peer peer;
	int named;		/* engine_peer_named at accept */
	struct event *deadline; /* a request begun must be whole by then */
	int deadline_armed;
	varlink_reader rd;
	unsigned long long id;
	struct timespec call_start;
	int in_call, call_more, call_oneway;
	int call_timeouts; /* the idle read timeout is off while this call runs */
	int engine_holds;  /* generate_key accepted this conn as ctx */
	int closing;	   /* close once the output is flushed */
	int eof;	   /* the client sends no more: answer what it sent, then close */
	int dead;	   /* free at the next turn of the loop */
};

struct listener {
	struct evconnlistener *l;
	char *path; /* the socket file we created, removed at free */
	dev_t dev;
	ino_t ino;
};

struct server {
	struct event_base *base;
	engine *eng;
	server_limits lim;
	server_log_fn log;
	void *log_ctx;
	TAILQ_HEAD(, server_conn) conns;
	size_t nconns;
	struct listener listeners[MAX_LISTENERS];
	size_t nlisteners;
	unsigned long long next_id;
	smk_buf scratch; /* a reply being framed (the loop thread only) */
};

void server_limits_default(server_limits *lim)
{
	lim->max_clients = 64;
	lim->max_clients_per_uid = 16;
	lim->max_message = VARLINK_DEFAULT_MAX_MESSAGE;
	lim->max_output = 16u << 20;
	lim->idle_timeout_ms = 60000;
	lim->request_timeout_ms = 10000;
}

static void log_stderr(void *ctx, enum server_log_level level, const char *msg)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};

	(void)ctx;
	/* msg names what clients sent (field names, executables): escaped */
	fprintf(stderr, "smkeyd: %s: %s\n", names[level], smk_show(msg));
}

static void slog(server *srv, enum server_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void slog(server *srv, enum server_log_level level, const char *fmt, ...)
{
	char msg[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	srv->log(srv->log_ctx, level, msg);
}

/* "client 7 (uid 1000 pid 4242)": how every line about a client starts */
#define CONN_FMT "client %llu (uid %u pid %d)"
#define CONN_ARGS(c) (c)->id, (unsigned)(c)->peer.uid, (int)(c)->peer.pid

static void set_timeouts(struct server_conn *c)
{
	struct timeval tv;
	const server_limits *lim = &c->srv->lim;

	if (lim->idle_timeout_ms == 0) {
		bufferevent_set_timeouts(c->bev, NULL, NULL);
		return;
	}
	tv.tv_sec = lim->idle_timeout_ms / 1000;
	tv.tv_usec = (lim->idle_timeout_ms % 1000) * 1000;
	/* a call in flight (a slow RSA key) is not idleness; a reader that
	 * takes nothing for the idle time is */
	bufferevent_set_timeouts(c->bev, c->in_call ? NULL : &tv, &tv);
}

static void conn_free(struct server_conn *c)
{
	server *srv = c->srv;

	if (c->engine_holds)
		engine_forget(srv->eng, c);
	TAILQ_REMOVE(&srv->conns, c, entry);
	srv->nconns--;
	bufferevent_free(c->bev);
	event_free(c->resume);
	if (c->deadline)
		event_free(c->deadline);
	varlink_reader_free(&c->rd);
	free(c);
}

/* Free at the next turn of the loop: the caller may be inside a callback
 * (ours, libevent's or the engine's) that still holds c. */
static void conn_drop(struct server_conn *c)
{
	if (c->dead)
		return;
	c->dead = 1;
	if (c->deadline_armed) {
		evtimer_del(c->deadline);
		c->deadline_armed = 0;
	}
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	event_active(c->resume, 0, 0);
}

/* The request deadline runs from the first byte of a message to its NUL:
 * armed when bytes of an unfinished message are held, disarmed when the
 * message is whole. Between calls a connection is only subject to the idle
 * time (and may lose its slot when the table is full, see admit). */
static void deadline_arm(struct server_conn *c)
{
	const server_limits *lim = &c->srv->lim;
	struct timeval tv;

	if (c->deadline_armed || lim->request_timeout_ms == 0 || c->dead)
		return;
	tv.tv_sec = lim->request_timeout_ms / 1000;
	tv.tv_usec = (lim->request_timeout_ms % 1000) * 1000;
	if (evtimer_add(c->deadline, &tv) == 0)
		c->deadline_armed = 1;
}

static void deadline_disarm(struct server_conn *c)
{
	if (!c->deadline_armed)
		return;
	evtimer_del(c->deadline);
	c->deadline_armed = 0;
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server_conn *c = arg;

	(void)fd;
	(void)what;
	c->deadline_armed = 0;
	if (c->dead || c->in_call)
		return;
	slog(c->srv, SERVER_LOG_WARNING,
	     CONN_FMT ": no complete request within %u ms (%zu bytes of it held); closed",
	     CONN_ARGS(c), c->srv->lim.request_timeout_ms, varlink_reader_pending(&c->rd));
	conn_drop(c);
}

/* With nothing queued for c, hand the reply to the kernel at once: a reply
 * the socket takes whole needs no write event, no second turn of the loop
 * and no copy into the bufferevent (most replies, since a client reads its
 * reply before it sends the next call). Returns the bytes the kernel took;
 * any error is left for the bufferevent's own write to meet and report. */
static size_t send_now(struct server_conn *c, const smk_buf *msg)
{
	ssize_t n;

	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return 0;
	n = send(bufferevent_getfd(c->bev), msg->data, msg->len, MSG_DONTWAIT | MSG_NOSIGNAL);
	return n > 0 ? (size_t)n : 0;
}

/* One reply may be any size; bytes the client has not taken yet plus a new
 * reply may not exceed max_output. */
static void conn_send(struct server_conn *c, const smk_buf *msg)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t before, queued, sent;

	if (c->dead)
		return;
	sent = send_now(c, msg);
	if (sent == msg->len) {
		/* the last reply before a close is out: no write event will come */
		if (c->closing)
			conn_drop(c);
		return;
	}
	before = evbuffer_get_length(out);
	if (bufferevent_write(c->bev, msg->data + sent, msg->len - sent) < 0) {
		slog(c->srv, SERVER_LOG_WARNING, CONN_FMT ": cannot queue %zu bytes; dropped",
		     CONN_ARGS(c), msg->len);
		conn_drop(c);
		return;
	}
	queued = evbuffer_get_length(out);
	if (before > 0 && queued > c->srv->lim.max_output) {
		slog(c->srv, SERVER_LOG_WARNING,
		     CONN_FMT ": not reading its replies, %zu bytes queued (limit %zu); dropped",
		     CONN_ARGS(c), queued, c->srv->lim.max_output);
		conn_drop(c);
	}
}

/* A message we cannot answer as a call: say why, then close. */
static void conn_protocol_error(struct server_conn *c, const char *parameter, const char *why)
{
	smk_buf out = SMK_BUF_INIT;
	json_t *params = json_pack("{ss}", "parameter", parameter);
	smk_err e;

	slog(c->srv, SERVER_LOG_INFO, CONN_FMT ": %s; closing", CONN_ARGS(c), why);
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
	if (params &&
	    varlink_error_encode(&out, "org.varlink.service.InvalidParameter", params, &e) == 0)
		conn_send(c, &out);
	else
		conn_drop(c);
	json_decref(params);
	smk_buf_free(&out);
}

static void call_end(struct server_conn *c)
{
	c->in_call = 0;
	c->engine_holds = 0;
	if (c->dead)
		return;
	if (c->call_timeouts) {
		c->call_timeouts = 0;
		set_timeouts(c);
	}
	/* the next pipelined call is read from the loop, not from inside the
	 * engine's callback */
	event_active(c->resume, 0, 0);
}

/* A reply encoded (rc 0) goes out; one that could not be encoded drops the
 * connection, saying why. */
static void send_or_drop(struct server_conn *c, int rc, smk_buf *out, const smk_err *e)
{
	if (rc == 0) {
		conn_send(c, out);
		return;
	}
	slog(c->srv, SERVER_LOG_ERR, CONN_FMT ": %s", CONN_ARGS(c), e->msg);
	conn_drop(c);
}

void server_conn_reply(struct server_conn *c, json_t *params, int continues)
{
	smk_buf out = SMK_BUF_INIT;
	smk_err e;

	if (!c->in_call) {
		json_decref(params);
		return;
	}
	if (!c->dead && !c->call_oneway && (!continues || c->call_more)) {
		send_or_drop(c, varlink_reply_encode(&out, params, continues, &e), &out, &e);
	}
	json_decref(params);
	smk_buf_free(&out);
	if (!continues)
		call_end(c);
}

void server_conn_reply_text(struct server_conn *c, const char *params, size_t len)
{
	smk_buf *out = &c->srv->scratch;
	smk_err e;

	if (!c->in_call)
		return;
	if (!c->dead && !c->call_oneway) {
		smk_buf_reset(out);
		send_or_drop(c, varlink_reply_encode_text(out, params, len, &e), out, &e);
	}
	call_end(c);
}

void server_conn_error(struct server_conn *c, const char *name, json_t *params)
{
	smk_buf out = SMK_BUF_INIT;
	smk_err e;

	if (!c->in_call) {
		json_decref(params);
		return;
	}
	if (!c->dead && !c->call_oneway) {
		send_or_drop(c, varlink_error_encode(&out, name, params, &e), &out, &e);
	}
	json_decref(params);
	smk_buf_free(&out);
	call_end(c);
}

long long server_conn_elapsed_ms(const struct server_conn *c)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)(now.tv_sec - c->call_start.tv_sec) * 1000 +
	       (now.tv_nsec - c->call_start.tv_nsec) / 1000000;
}

static void conn_call(struct server_conn *c, json_t *msg)
{
	varlink_call call;
	smk_err e;
	int held;

	if (varlink_call_decode(msg, &call, &e) < 0) {
		conn_protocol_error(c, call.invalid ? call.invalid : "message", e.msg);
		varlink_call_clear(&call);
		return;
	}
	deadline_disarm(c);
	c->in_call = 1;
	c->call_more = call.more;
	c->call_oneway = call.oneway;
	clock_gettime(CLOCK_MONOTONIC, &c->call_start);
	held = methods_dispatch(c->srv->eng, c, &c->peer, &call);
	/* the engine may have answered already, from inside generate_key */
	if (held == 1 && c->in_call)
		c->engine_holds = 1;
	/* a call answered at once never changed the timeouts; one still in
	 * flight (a slow RSA key) is not idleness: no read timeout until its
	 * end */
	if (c->in_call && !c->dead) {
		c->call_timeouts = 1;
		set_timeouts(c);
	}
	varlink_call_clear(&call);
}

/* Read and answer calls until one is in flight or the bytes run out. */
static void conn_process(struct server_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	uint8_t chunk[READ_CHUNK];
	json_t *msg;
	smk_err e;
	int n, r;

	/* the next call is read once the last reply is all with the kernel: a
	 * client that pipelines calls and does not read stops being served
	 * (and is closed by the write timeout) instead of growing our buffer */
	while (!c->dead && !c->closing && !c->in_call && evbuffer_get_length(out) == 0) {
		r = varlink_reader_next(&c->rd, &msg, &e);
		if (r < 0) {
			conn_protocol_error(c, "message", e.msg);
			return;
		}
		if (r == 1) {
			conn_call(c, msg);
			json_decref(msg);
			continue;
		}
		n = evbuffer_remove(in, chunk, sizeof(chunk));
		if (n <= 0 && c->eof) {
			/* every call the client sent is answered: close once the
			 * replies are out */
			c->closing = 1;
			if (evbuffer_get_length(out) == 0)
				conn_drop(c);
			return;
		}
		if (n <= 0) {
			/* part of a message is held: it must be whole in time */
			if (varlink_reader_pending(&c->rd) > 0)
				deadline_arm(c);
			return;
		}
		if (varlink_reader_feed(&c->rd, chunk, (size_t)n, &e) < 0) {
			slog(c->srv, SERVER_LOG_ERR, CONN_FMT ": %s; dropped", CONN_ARGS(c), e.msg);
			conn_drop(c);
			return;
		}
	}
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->dead)
		conn_free(c);
	else
		conn_process(c);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_process(arg);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	struct server_conn *c = arg;

	(void)bev;
	/* called when the output has drained: the error reply is out, or the
	 * next pipelined call may be read */
	if (c->closing)
		conn_drop(c);
	else if (!c->in_call)
		event_active(c->resume, 0, 0);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct server_conn *c = arg;

	(void)bev;
	/* end of the client's stream with no Generate pending: it may have
	 * shut down only its sending side, so the calls it sent are still
	 * answered, then the connection closes (see conn_process) */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && !c->engine_holds) {
		c->eof = 1;
		bufferevent_disable(c->bev, EV_READ);
		event_active(c->resume, 0, 0);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		slog(c->srv, SERVER_LOG_INFO, CONN_FMT ": %s; closed", CONN_ARGS(c),
		     (what & BEV_EVENT_WRITING) ? "took no reply bytes within the idle time"
						: "idle");
	} else if (c->engine_holds) {
		slog(c->srv, SERVER_LOG_INFO,
		     CONN_FMT ": went away during %s; its job completes and is archived",
		     CONN_ARGS(c), "Generate");
	} else if (what & BEV_EVENT_ERROR) {
		slog(c->srv, SERVER_LOG_DEBUG, CONN_FMT ": %s", CONN_ARGS(c), strerror(errno));
	}
	conn_drop(c);
}

/* The peer as the kernel saw it at connect. Supplementary groups beyond
 * what engine_peer holds are left out: a missing group can only take a
 * permission away, never grant one. */
static int read_peer(int fd, engine_peer *peer, smk_err *e)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t few_groups[256], *groups;
	char path[64];
	ssize_t n;
	size_t i;
	int rc;

	memset(peer, 0, sizeof(*peer));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred))
		return smk_fail(e, SMK_E_IO, "SO_PEERCRED: %s", strerror(errno));
	peer->uid = cred.uid;
	peer->gid = cred.gid;
	peer->pid = cred.pid;

	/* most peers have a handful of groups: ask with room for 256 on the
	 * stack, and only a peer with more costs an allocation (ERANGE says
	 * how much the kernel needs) */
	groups = few_groups;
	len = sizeof(few_groups);
	rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len);
	if (rc < 0 && errno == ERANGE && len > sizeof(few_groups) &&
	    len <= MAX_PEER_GROUPS * sizeof(*groups)) {
		groups = malloc(len);
		if (groups == NULL)
			return smk_fail(e, SMK_E_NOMEM, "out of memory for peer groups");
		rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len);
	}
	if (rc < 0) {
		/* kernels before 4.13 lack it: the peer then has no groups, which
		 * can only deny */
		if (errno != ENOPROTOOPT) {
			rc = errno;
			if (groups != few_groups)
				free(groups);
			return smk_fail(e, SMK_E_IO, "SO_PEERGROUPS: %s", strerror(rc));
		}
		len = 0;
	}
	for (i = 0; i < len / sizeof(*groups) && peer->ngroups < 64; i++)
		peer->groups[peer->ngroups++] = groups[i];
	if (groups != few_groups)
		free(groups);

	/* best effort: unreadable when the peer runs as another user and we are
	 * not privileged; policies decide on uid and groups, never on this */
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)peer->pid);
	n = readlink(path, peer->exe, sizeof(peer->exe) - 1);
	peer->exe[n > 0 ? n : 0] = '\0';
	return 0;
}

/* Tell a client over the limit why, in one non-blocking send, and close. */
static void refuse_client(server *srv, int fd, size_t limit)
{
	smk_buf out = SMK_BUF_INIT;
	json_t *params = json_pack("{sI}", "limit", (json_int_t)limit);
	smk_err e;

	if (params && varlink_error_encode(&out, SMK_VERR_TOO_MANY_REQUESTS, params, &e) == 0) {
		if (send(fd, out.data, out.len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			slog(srv, SERVER_LOG_DEBUG, "refusing a client: %s", strerror(errno));
	}
	json_decref(params);
	smk_buf_free(&out);
	close(fd);
}

/* Connections of uid that still hold a slot (not already being freed). */
static size_t uid_conns(const server *srv, uid_t uid)
{
	const struct server_conn *c;
	size_t n = 0;

	TAILQ_FOREACH(c, &srv->conns, entry)
	{
		if (!c->dead && c->peer.uid == uid)
			n++;
	}
	return n;
}

static size_t live_conns(const server *srv)
{
	const struct server_conn *c;
	size_t n = 0;

	TAILQ_FOREACH(c, &srv->conns, entry)
	{
		if (!c->dead)
			n++;
	}
	return n;
}

/* A slot that may be given to someone else: no call in flight, no Generate
 * held for it, not closing, no reply still on its way to the client. */
static int evictable(const struct server_conn *c)
{
	return !c->dead && !c->in_call && !c->engine_holds && !c->closing && !c->eof &&
	       evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
}

/* The connection whose slot nc takes (slots.h), or NULL. */
static struct server_conn *victim_for(server *srv, const struct server_conn *nc)
{
	struct server_conn *c, **conns, *v = NULL;
	slot_info *info;
	size_t n = 0;
	long i;

	info = calloc(srv->nconns + 1, sizeof(*info));
	conns = calloc(srv->nconns + 1, sizeof(*conns));
	if (info == NULL || conns == NULL)
		goto out;
	TAILQ_FOREACH(c, &srv->conns, entry)
	{
		if (c->dead)
			continue;
		info[n].uid = c->peer.uid;
		info[n].named = c->named;
		info[n].evictable = evictable(c);
		info[n].pending = varlink_reader_pending(&c->rd) > 0;
		conns[n++] = c;
	}
	i = slots_pick(info, n, nc->peer.uid, nc->named);
	v = i >= 0 ? conns[i] : NULL;
out:
	free(info);
	free(conns);
	return v;
}

/* May nc have a slot? No (logged; *limit is the limit to tell it) past the
 * per-uid limit, and when the table is full and no slot can be taken from
 * another uid. */
static int admit(server *srv, struct server_conn *nc, size_t *limit)
{
	size_t mine = uid_conns(srv, nc->peer.uid), live = live_conns(srv);
	struct server_conn *v;

	*limit = srv->lim.max_clients_per_uid;
	if (mine >= srv->lim.max_clients_per_uid) {
		slog(srv, SERVER_LOG_WARNING,
		     "uid %u has %zu connections (the per-uid limit); refusing pid %d",
		     (unsigned)nc->peer.uid, mine, (int)nc->peer.pid);
		return 0;
	}
	*limit = srv->lim.max_clients;
	if (live < srv->lim.max_clients)
		return 1;
	v = victim_for(srv, nc);
	if (v == NULL) {
		slog(srv, SERVER_LOG_WARNING,
		     "%zu clients connected (the limit); refusing uid %u pid %d", live,
		     (unsigned)nc->peer.uid, (int)nc->peer.pid);
		return 0;
	}
	slog(srv, SERVER_LOG_WARNING,
	     CONN_FMT ": %s closed to make room for uid %u (%zu clients, the limit; uid %u "
		      "holds %zu)",
	     CONN_ARGS(v), varlink_reader_pending(&v->rd) > 0 ? "unfinished request" : "idle",
	     (unsigned)nc->peer.uid, live, (unsigned)v->peer.uid, uid_conns(srv, v->peer.uid));
	conn_drop(v);
	return 1;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int socklen, void *arg)
{
	server *srv = arg;
	struct server_conn *c;
	size_t limit;
	smk_err e;

	(void)l;
	(void)sa;
	(void)socklen;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return;
	}
	if (read_peer(fd, &c->peer, &e) < 0) {
		slog(srv, SERVER_LOG_WARNING, "new client: %s; closed", e.msg);
		free(c);
		close(fd);
		return;
	}
	c->srv = srv;
	c->named = engine_peer_named(srv->eng, &c->peer);
	if (!admit(srv, c, &limit)) {
		free(c);
		refuse_client(srv, fd, limit);
		return;
	}
	c->id = ++srv->next_id;
	varlink_reader_init(&c->rd, srv->lim.max_message);
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->resume = event_new(srv->base, -1, 0, resume_cb, c);
	c->deadline = evtimer_new(srv->base, deadline_cb, c);
	if (c->bev == NULL || c->resume == NULL || c->deadline == NULL) {
		slog(srv, SERVER_LOG_ERR, "new client: out of memory; closed");
		if (c->bev)
			bufferevent_free(c->bev);
		else
			close(fd);
		if (c->resume)
			event_free(c->resume);
		if (c->deadline)
			event_free(c->deadline);
		free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	srv->nconns++;
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, READ_CHUNK);
	set_timeouts(c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	slog(srv, SERVER_LOG_DEBUG, CONN_FMT ": connected, gid %u, %zu groups, exe %s",
	     CONN_ARGS(c), (unsigned)c->peer.gid, c->peer.ngroups,
	     c->peer.exe[0] ? c->peer.exe : "(unknown)");
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();

	(void)l;
	/* EMFILE and friends: keep listening, the next accept may succeed */
	slog(arg, SERVER_LOG_WARNING, "accept: %s", evutil_socket_error_to_string(err));
}

server *server_new(struct event_base *base, engine *eng, const server_limits *lim, smk_err *e)
{
	server *srv = calloc(1, sizeof(*srv));

	if (srv == NULL) {
		smk_fail(e, SMK_E_NOMEM, "server: out of memory");
		return NULL;
	}
	srv->base = base;
	srv->eng = eng;
	if (lim)
		srv->lim = *lim;
	else
		server_limits_default(&srv->lim);
	if (srv->lim.max_clients == 0 || srv->lim.max_clients_per_uid == 0 ||
	    srv->lim.max_message == 0 || srv->lim.max_output == 0) {
		free(srv);
		smk_fail(e, SMK_E_ARG, "server: limits must be at least 1");
		return NULL;
	}
	srv->log = log_stderr;
	TAILQ_INIT(&srv->conns);
	/* clients vanish mid-reply all the time: a write to a closed socket
	 * must be an error we handle, not a signal that ends the daemon */
	signal(SIGPIPE, SIG_IGN);
	return srv;
}

void server_set_log(server *srv, server_log_fn fn, void *ctx)
{
	srv->log = fn ? fn : log_stderr;
	srv->log_ctx = ctx;
}

size_t server_client_count(const server *srv)
{
	return srv->nconns;
}

static int add_listener(server *srv, int fd, const char *path, const struct stat *st, smk_err *e)
{
	struct listener *L;

	if (srv->nlisteners == MAX_LISTENERS)
		return smk_fail(e, SMK_E_ARG, "server: more than %d sockets", MAX_LISTENERS);
	L = &srv->listeners[srv->nlisteners];
	memset(L, 0, sizeof(*L));
	if (path && (L->path = strdup(path)) == NULL)
		return smk_fail(e, SMK_E_NOMEM, "server: out of memory");
	if (st) {
		L->dev = st->st_dev;
		L->ino = st->st_ino;
	}
	/* backlog 0: the socket is listening already */
	L->l = evconnlistener_new(srv->base, accept_cb, srv,
				  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (L->l == NULL) {
		free(L->path);
		return smk_fail(e, SMK_E_IO, "server: cannot watch socket fd %d", fd);
	}
	evconnlistener_set_error_cb(L->l, accept_error_cb);
	srv->nlisteners++;
	return 0;
}

/* What the server can adopt: a socket, of the Unix family, stream type,
 * listening. */
static int is_unix_stream_listener(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int type = 0, listening = 0;
	socklen_t ilen = sizeof(int);
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		return 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 || len < sizeof(sa_family_t) ||
	    ss.ss_family != AF_UNIX)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ilen) < 0 || type != SOCK_STREAM)
		return 0;
	ilen = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ilen) < 0 || !listening)
		return 0;
	return 1;
}

int server_listen_fd(server *srv, int fd, smk_err *e)
{
	if (!is_unix_stream_listener(fd))
		return smk_fail(e, SMK_E_ARG, "server: fd %d is not a listening Unix stream socket",
				fd);
	if (evutil_make_socket_nonblocking(fd) < 0 || evutil_make_socket_closeonexec(fd) < 0)
		return smk_fail(e, SMK_E_IO, "server: fd %d: %s", fd, strerror(errno));
	return add_listener(srv, fd, NULL, NULL, e);
}

int server_listen_systemd(server *srv, smk_err *e)
{
	int n = sdnotify_listen_fds(1, e), i;

	if (n < 0)
		return smk_context(e, "socket activation");
	for (i = 0; i < n; i++)
		if (server_listen_fd(srv, SDN_LISTEN_FDS_START + i, e) < 0)
			return smk_context(e, "socket activation");
	return n;
}

/* An existing path: a socket nobody answers on is a crashed daemon's and
 * may go; anything else stays. */
static int clear_stale(const char *path, const struct sockaddr_un *sa, smk_err *e)
{
	struct stat st;
	int fd, rc, err;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : smk_fail(e, SMK_E_IO, "%s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return smk_fail(e, SMK_E_IO, "%s exists and is not a socket; not replacing it",
				path);
	/* non-blocking: a live daemon with a full backlog answers EAGAIN
	 * instead of holding our start-up */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return smk_fail(e, SMK_E_IO, "socket: %s", strerror(errno));
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	err = errno;
	close(fd);
	if (rc == 0 || err == EAGAIN)
		return smk_fail(e, SMK_E_IO, "%s: another daemon answers on it", path);
	if (err != ECONNREFUSED)
		return smk_fail(e, SMK_E_IO, "%s: probing the old socket: %s", path, strerror(err));
	if (unlink(path) < 0 && errno != ENOENT)
		return smk_fail(e, SMK_E_IO, "%s: removing the stale socket: %s", path,
				strerror(errno));
	return 0;
}

int server_listen_path(server *srv, const char *path, smk_err *e)
{
	struct sockaddr_un sa;
	struct stat st;
	mode_t old;
	int fd, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return smk_fail(e, SMK_E_ARG, "socket path %s: longer than %zu bytes", path,
				sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (clear_stale(path, &sa, e) < 0)
		return smk_context(e, "listen");
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return smk_fail(e, SMK_E_IO, "listen %s: socket: %s", path, strerror(errno));
	/* the socket is born 0660 (owner and group may connect): no window in
	 * which a wider mode exists */
	old = umask(0117);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 64) < 0 || stat(path, &st) < 0) {
		rc = errno;
		close(fd);
		return smk_fail(e, SMK_E_IO, "listen %s: %s", path, strerror(rc));
	}
	if (add_listener(srv, fd, path, &st, e) < 0) {
		close(fd);
		unlink(path);
		return -1;
	}
	return 0;
}

void server_free(server *srv)
{
	struct server_conn *c;
	struct stat st;
	size_t i;

	if (srv == NULL)
		return;
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
		conn_free(c);
	for (i = 0; i < srv->nlisteners; i++) {
		struct listener *L = &srv->listeners[i];

		evconnlistener_free(L->l);
		/* remove our socket file, not one a successor bound meanwhile */
		if (L->path && stat(L->path, &st) == 0 && st.st_dev == L->dev &&
		    st.st_ino == L->ino)
			unlink(L->path);
		free(L->path);
	}
	smk_buf_free(&srv->scratch);
	free(srv);
}
