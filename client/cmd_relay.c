/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey relay --reader PATTERN (--connect HOST:PORT | --via COMMAND)
 * smkey relay-gate --listen HOST:PORT --vpcd HOST:PORT
 *
 * relay joins one local PC/SC card to a remote vpcd reader, so that a
 * notary's smkeyd reaches a card plugged into this host (docs/notary.md).
 * relay-gate runs on the notary between a slow link and its vpcd reader and
 * answers vpcd's presence polls there (relay/gate.h). Both are untrusted:
 * the notary talks to the card under secure messaging and checks the card's
 * device chain itself. Both run until SIGTERM/SIGINT; exit 0 stopped, 2
 * usage (or, for the gate, a listening address it cannot have).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/show.h"
#include "relay/gate.h"
#include "relay/relay.h"
#include "smkey.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: smkey relay --reader PATTERN (--connect HOST:PORT | --via COMMAND)\n"
		   "                   [--card-timeout-ms N] [--retry-max-ms N] [--attempts N]\n"
		   "  join the local card in the first reader matching PATTERN (fnmatch) to a\n"
		   "  remote vpcd reader: over TCP, or over COMMAND's stdin/stdout, e.g.\n"
		   "    --via \"ssh -W 127.0.0.1:35963 notary\"\n"
		   "  logs counts and status words to stderr, never APDU data\n");
}

/* Every option takes a value: a text, or a number up to max. */
struct relay_arg {
	const char *name;
	const char **text;
	unsigned *num;
	unsigned long max;
};

static int take(const struct relay_arg *a, const char *v)
{
	char *end;
	unsigned long n;

	if (a->text) {
		*a->text = v;
		return 0;
	}
	errno = 0;
	n = strtoul(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno || n > a->max) {
		fprintf(stderr, "smkey relay: --%s \"%s\": a number 0..%lu\n", a->name, smk_show(v),
			a->max);
		return -1;
	}
	*a->num = (unsigned)n;
	return 0;
}

static void on_stop_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* one line per event, in order, when stderr is a pipe or the journal */
	setvbuf(stderr, NULL, _IOLBF, 0);
}

int cmd_relay(int argc, char **argv)
{
	relay_opts o = {.card_timeout_ms = 120000, .retry_min_ms = 200, .retry_max_ms = 10000};
	const struct relay_arg args[] = {
	    {"reader", &o.reader, NULL, 0},
	    {"connect", &o.connect, NULL, 0},
	    {"via", &o.via, NULL, 0},
	    {"card-timeout-ms", NULL, &o.card_timeout_ms, 3600000},
	    {"retry-max-ms", NULL, &o.retry_max_ms, 3600000},
	    {"attempts", NULL, &o.attempts, 1000000},
	};
	struct option opts[sizeof(args) / sizeof(args[0]) + 2];
	size_t nargs = sizeof(args) / sizeof(args[0]), i;
	char host[256];
	unsigned port;
	smk_err e;
	int opt, idx;

	memset(opts, 0, sizeof(opts));
	for (i = 0; i < nargs; i++)
		opts[i] = (struct option){args[i].name, required_argument, NULL, 0};
	opts[nargs] = (struct option){"help", no_argument, NULL, 'h'};
	while ((opt = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		if (opt == 0 && take(&args[idx], optarg) == 0)
			continue;
		usage(opt == 'h' ? stdout : stderr);
		return opt == 'h' ? 0 : 2;
	}
	if (optind != argc || o.reader == NULL || o.reader[0] == '\0' ||
	    (o.connect == NULL) == (o.via == NULL)) {
		fprintf(stderr, "smkey relay: give --reader and exactly one of --connect, --via\n");
		usage(stderr);
		return 2;
	}
	if (o.connect && relay_parse_hostport(o.connect, host, sizeof(host), &port, &e) < 0) {
		fprintf(stderr, "smkey relay: %s\n", e.msg);
		return 2;
	}
	if (o.card_timeout_ms == 0)
		o.card_timeout_ms = 1000;
	if (o.retry_max_ms < o.retry_min_ms)
		o.retry_max_ms = o.retry_min_ms;
	on_stop_signals();
	if (relay_run(&o, &stop_flag, &e) < 0) {
		fprintf(stderr, "smkey relay: %s\n", e.msg);
		return 2;
	}
	return 0;
}

static void gate_usage(FILE *f)
{
	fprintf(f, "usage: smkey relay-gate --listen HOST:PORT --vpcd HOST:PORT\n"
		   "  on the notary, between a slow relay link and a vpcd reader: take one\n"
		   "  relay at a time on --listen (a relay's --connect, or ssh -W to it), join\n"
		   "  it to vpcd at --vpcd, pass every message unchanged, and answer vpcd's\n"
		   "  presence polls (ATR requests) with the ATR last seen, e.g.\n"
		   "    smkey relay-gate --listen 127.0.0.1:35970 --vpcd 127.0.0.1:35963\n"
		   "  logs counts to stderr, never APDU data\n");
}

int cmd_relay_gate(int argc, char **argv)
{
	gate_opts o = {0};
	const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"vpcd", required_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char host[256];
	unsigned port;
	smk_err e;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'l')
			o.listen = optarg;
		else if (opt == 'v')
			o.vpcd = optarg;
		else {
			gate_usage(opt == 'h' ? stdout : stderr);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind != argc || o.listen == NULL || o.vpcd == NULL) {
		fprintf(stderr, "smkey relay-gate: give --listen and --vpcd\n");
		gate_usage(stderr);
		return 2;
	}
	if (relay_parse_addr("--listen", o.listen, host, sizeof(host), &port, &e) < 0 ||
	    relay_parse_addr("--vpcd", o.vpcd, host, sizeof(host), &port, &e) < 0) {
		fprintf(stderr, "smkey relay-gate: %s\n", e.msg);
		return 2;
	}
	on_stop_signals();
	if (gate_run(&o, &stop_flag, &e) < 0) {
		fprintf(stderr, "smkey relay-gate: %s\n", e.msg);
		return 2;
	}
	return 0;
}
