/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkeyd: attested key generation in SmartCard-HSMs (smkeyd(8)).
 *
 * The main thread runs the libevent loop: the socket server, signals, the
 * watchdog timer, and the completions of the worker threads. Start-up does
 * all card work that must precede the first request (archive key, recovery)
 * before READY=1 is sent.
 */
#include <errno.h>
#include <event2/event.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/opts.h"
#include "common/show.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "methods.h"
#include "sdnotify.h"
#include "server.h"

struct daemon_ctx {
	const config *cfg;
	struct event_base *base;
	engine *eng;
	server *srv;
	int stopping;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: smkeyd [-c CONFIG] [--check-config] [--debug] [--stderr]\n"
		   "  -c, --config FILE   configuration (default " CONFIG_DEFAULT_PATH ")\n"
		   "      --check-config  validate the configuration, policies and trust "
		   "anchors, then exit\n"
		   "      --debug         log debug messages\n"
		   "      --stderr        log to stderr even under systemd\n"
		   "      --version       print the version and exit\n");
}

static void report_policy(void *ctx, const smk_err *e)
{
	int *reported = ctx;

	(*reported)++;
	fprintf(stderr, "smkeyd: %s\n", smk_show(e->msg));
}

/* --check-config: everything a file can get wrong, no device, no archive. */
static int check_config(const char *path)
{
	config *cfg = NULL;
	policy_set *set = NULL;
	trust_store trust = TRUST_STORE_INIT;
	smk_err e;
	int bad = 0, reported = 0;

	if (config_load(path, &cfg, &e) < 0) {
		fprintf(stderr, "smkeyd: %s\n", smk_show(e.msg));
		return 1;
	}
	if (policy_set_load(cfg->policies_dir, &set, report_policy, &reported, &e) < 0) {
		/* each bad file was reported; a directory problem was not */
		if (reported == 0)
			fprintf(stderr, "smkeyd: %s\n", smk_show(e.msg));
		bad = 1;
	}
	if (trust_load_dir(&trust, cfg->trust_dir, &e) < 0) {
		fprintf(stderr, "smkeyd: trust anchors: %s\n", smk_show(e.msg));
		bad = 1;
	}
	if (!bad) {
		char warning[512];

		printf("%s: ok: %zu device entr%s, %zu policies, %zu trust anchor%s, archive %s",
		       path, cfg->device_count, cfg->device_count == 1 ? "y" : "ies",
		       policy_set_count(set), trust.n, trust.n == 1 ? "" : "s", cfg->archive_path);
		if (cfg->witness_count)
			printf(", %zu witness%s", cfg->witness_count,
			       cfg->witness_count == 1 ? "" : "es");
		printf("\n");
		if (trust_test_warning(&trust, warning, sizeof(warning)) > 0)
			printf("%s: %s\n", path, warning);
	}
	trust_free(&trust);
	policy_set_unref(set);
	config_free(cfg);
	return bad;
}

/* ---- memory: what an idle daemon keeps resident ----
 *
 * Measured with /proc/PID/smaps (docs/PERFORMANCE.md section 5): most of an
 * idle daemon's RSS is not its own data but the clean, shared code pages of
 * the libraries start-up ran (libcrypto validating device chains, SQLite,
 * libyaml). Those are left alone: dropping them would only move the figure,
 * not free memory (they stay in the page cache). What is the daemon's own is
 * kept small: few malloc arenas, and free heap handed back after start-up and
 * after bursts of keys.
 */

/* Before any thread exists: one malloc arena for every thread. The workers
 * mostly wait on the card and allocate little (their small blocks come from
 * the per-thread cache without the arena lock); a second arena for them held
 * ~150 KiB of mostly free pages after a few keys (docs/PERFORMANCE.md
 * section 5), which one arena shares with the loop instead. */
static void memory_at_start(void)
{
	mallopt(M_ARENA_MAX, 1);
}

/* Resident KiB, from /proc/self/statm; 0 when unreadable. */
static size_t resident_kib(void)
{
	unsigned long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");
	int n;

	if (f == NULL)
		return 0;
	n = fscanf(f, "%lu %lu", &size, &resident);
	fclose(f);
	return n == 2 ? resident * ((size_t)sysconf(_SC_PAGESIZE) / 1024) : 0;
}

static size_t settled_kib; /* resident right after the last settle */

/* Give back the heap that is free (see above). */
static void memory_settle(void)
{
	malloc_trim(0);
	settled_kib = resident_kib();
	log_debug("memory: %zu KiB resident after releasing free heap", settled_kib);
}

#define SETTLE_TICK_S 2
#define SETTLE_GROWTH_KIB 128

/* Every SETTLE_TICK_S: when no key is being made and the daemon grew by
 * SETTLE_GROWTH_KIB since it last settled (a burst of keys grew the heap:
 * three keys leave ~150 KiB, about 60 KiB of it free pages), settle again.
 * A settle that frees nothing resets the mark, so it does not repeat.
 * Queries never wait on this: it runs on the loop between calls and costs a
 * few system calls. */
static void on_settle_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon_ctx *d = arg;

	(void)fd;
	(void)what;
	if (engine_in_flight(d->eng) == 0 && resident_kib() > settled_kib + SETTLE_GROWTH_KIB)
		memory_settle();
}

/* Tell systemd (Type=notify) where the daemon is; a failure is reported,
 * since systemd then waits for a message that does not come. */
static void notify(const char *state)
{
	smk_err e;

	if (sdnotify_notify(state, &e) < 0)
		log_warn("%s", e.msg);
}

static void server_log(void *ctx, enum server_log_level level, const char *msg)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

	(void)ctx;
	log_msg(prio[level <= SERVER_LOG_DEBUG ? level : SERVER_LOG_DEBUG], NULL, "%s", msg);
}

static void drained(void *arg)
{
	struct daemon_ctx *d = arg;

	log_info("all requests answered; exiting");
	event_base_loopexit(d->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_ctx *d = arg;
	smk_err e;

	(void)what;
	if (sig == SIGHUP) {
		notify("RELOADING=1");
		if (engine_reload(d->eng, &e) < 0)
			log_err("reload refused, the old policies stay in force: %s", e.msg);
		notify("READY=1");
		return;
	}
	if (d->stopping)
		return;
	d->stopping = 1;
	notify("STOPPING=1");
	log_info("signal %d: refusing new requests, finishing %zu in flight", (int)sig,
		 engine_in_flight(d->eng));
	engine_shutdown(d->eng, drained, d);
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	/* sent from the loop itself: a loop that hangs stops the pings */
	notify("WATCHDOG=1");
}

static int run(const char *path)
{
	struct daemon_ctx d;
	struct event *sigs[3] = {NULL, NULL, NULL}, *wd = NULL, *settle = NULL;
	struct timeval settle_tv = {SETTLE_TICK_S, 0};
	static const int signums[3] = {SIGHUP, SIGTERM, SIGINT};
	engine_options opts;
	server_limits lim;
	config *cfg = NULL;
	uint64_t wd_usec = 0;
	smk_err e;
	int rc = 1, n;
	size_t i;

	memset(&d, 0, sizeof(d));
	memory_at_start();
	signal(SIGPIPE, SIG_IGN);
	if (config_load(path, &cfg, &e) < 0) {
		log_err("%s", e.msg);
		return 1;
	}
	d.cfg = cfg;
	d.base = event_base_new();
	if (d.base == NULL) {
		log_err("cannot create the event loop");
		goto out;
	}
	memset(&opts, 0, sizeof(opts));
	opts.cfg = cfg;
	opts.base = d.base;
	if (engine_new(&opts, &d.eng, &e) < 0 || engine_start(d.eng, &e) < 0) {
		log_err("%s", e.msg);
		goto out;
	}
	server_limits_default(&lim);
	lim.max_clients = cfg->limits.clients;
	lim.max_clients_per_uid = cfg->limits.clients_per_uid;
	lim.request_timeout_ms = cfg->limits.request_timeout_ms;
	lim.idle_timeout_ms = cfg->limits.idle_timeout_ms;
	lim.max_message = cfg->limits.message_size;
	d.srv = server_new(d.base, d.eng, &lim, &e);
	if (d.srv == NULL) {
		log_err("%s", e.msg);
		goto out;
	}
	server_set_log(d.srv, server_log, NULL);
	n = server_listen_systemd(d.srv, &e);
	if (n < 0 || (n == 0 && server_listen_path(d.srv, cfg->socket_path, &e) < 0)) {
		log_err("%s", e.msg);
		goto out;
	}
	for (i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(d.base, signums[i], on_signal, &d);
		if (sigs[i] == NULL || event_add(sigs[i], NULL) < 0) {
			log_err("cannot handle signal %d", signums[i]);
			goto out;
		}
	}
	if (sdnotify_watchdog_usec(&wd_usec, &e) < 0)
		log_warn("no watchdog pings: %s", e.msg);
	else if (wd_usec > 0) {
		struct timeval tv = {(time_t)(wd_usec / 2 / 1000000),
				     (suseconds_t)(wd_usec / 2 % 1000000)};

		wd = event_new(d.base, -1, EV_PERSIST, on_watchdog, NULL);
		if (wd == NULL || event_add(wd, &tv) < 0) {
			log_err("cannot start the watchdog timer");
			goto out;
		}
	}
	log_info("smkeyd %s ready: %s on %s", SMKEYD_VERSION,
		 n > 0 ? "socket from systemd" : "listening",
		 n > 0 ? "smkeyd.socket" : cfg->socket_path);
	/* logged once when it holds: the archive key beside keys others sign with */
	sign_archive_warning(d.eng);
	memory_settle();
	settle = event_new(d.base, -1, EV_PERSIST, on_settle_tick, &d);
	if (settle == NULL || event_add(settle, &settle_tv) < 0) {
		log_err("cannot start the memory timer");
		goto out;
	}
	notify("READY=1\nSTATUS=serving");
	if (event_base_dispatch(d.base) < 0)
		log_err("event loop failed");
	else
		rc = 0;
out:
	if (wd)
		event_free(wd);
	if (settle)
		event_free(settle);
	for (i = 0; i < 3; i++)
		if (sigs[i])
			event_free(sigs[i]);
	server_free(d.srv);
	engine_free(d.eng);
	if (d.base)
		event_base_free(d.base);
	config_free(cfg);
	return rc;
}

struct daemon_args {
	const char *config;
	int check, debug, to_stderr, version, help;
};

static const smk_opt daemon_options[] = {
    {"config", 'c', .offset = offsetof(struct daemon_args, config)},
    {"check-config", .kind = SMK_OPT_FLAG, .offset = offsetof(struct daemon_args, check)},
    {"debug", .kind = SMK_OPT_FLAG, .offset = offsetof(struct daemon_args, debug)},
    {"stderr", .kind = SMK_OPT_FLAG, .offset = offsetof(struct daemon_args, to_stderr)},
    {"version", .kind = SMK_OPT_STOP, .offset = offsetof(struct daemon_args, version)},
    {"help", 'h', .kind = SMK_OPT_STOP, .offset = offsetof(struct daemon_args, help)},
    {.name = NULL},
};

int main(int argc, char **argv)
{
	struct daemon_args a = {CONFIG_DEFAULT_PATH, 0, 0, 0, 0, 0};
	const smk_opt_group opts = {daemon_options, &a, NULL};
	int rc, first = argc;

	/* Before any secret exists: the process holds SM session keys and,
	 * briefly, the PIN. Not dumpable means no core file (whatever
	 * RLIMIT_CORE or core_pattern say), no ptrace attach and no
	 * /proc/PID/mem or environ for other processes of the same uid (the
	 * kernel makes /proc/PID/ root's). systemd's LimitCORE=0 is the same
	 * promise for the unit. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		fprintf(stderr, "smkeyd: cannot make the process non-dumpable: %s\n",
			strerror(errno));
		return 1;
	}
	/* Before anything touches OpenSSL: no openssl.cnf. The key service
	 * uses the built-in default provider only, and a system-wide (or
	 * $OPENSSL_CONF) configuration cannot load engines or providers into
	 * the process that holds the SM session keys (docs/daemon.md). */
	if (OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL) != 1) {
		fprintf(stderr, "smkeyd: cannot initialise OpenSSL\n");
		return 1;
	}
	rc = smk_opts_parse("smkeyd", &opts, 1, argc, argv, &first);
	if (a.version) {
		printf("smkeyd %s\n", SMKEYD_VERSION);
		return 0;
	}
	if (rc != 0 || first != argc) {
		usage(a.help ? stdout : stderr);
		return a.help ? 0 : 2;
	}
	if (a.check)
		return check_config(a.config);
	log_init(a.to_stderr ? LOG_TARGET_STDERR : LOG_TARGET_AUTO, a.debug);
	return run(a.config);
}
