/*
 * smkey relay --reader PATTERN (--connect HOST:PORT | --via COMMAND)
 *
 * Joins one local PC/SC card to a remote vpcd reader, so that a notary's
 * smkeyd reaches a card plugged into this host (docs/notary.md). The relay
 * is untrusted: the notary talks to the card under secure messaging and
 * checks the card's device chain itself. Runs until SIGTERM/SIGINT; exit 0
 * stopped, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/show.h"
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

static int get_ms(const char *opt, const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno || v > max) {
		fprintf(stderr, "smkey relay: %s \"%s\": a number 0..%u\n", opt, smk_show(s), max);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

int cmd_relay(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"reader", required_argument, NULL, 'r'},
	    {"connect", required_argument, NULL, 'c'},
	    {"via", required_argument, NULL, 'v'},
	    {"card-timeout-ms", required_argument, NULL, 't'},
	    {"retry-max-ms", required_argument, NULL, 'm'},
	    {"attempts", required_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	relay_opts o = {.card_timeout_ms = 120000, .retry_min_ms = 200, .retry_max_ms = 10000};
	struct sigaction sa;
	char host[256];
	unsigned port;
	smk_err e;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			o.reader = optarg;
			break;
		case 'c':
			o.connect = optarg;
			break;
		case 'v':
			o.via = optarg;
			break;
		case 't':
			if (get_ms("--card-timeout-ms", optarg, 3600000, &o.card_timeout_ms) < 0)
				return 2;
			break;
		case 'm':
			if (get_ms("--retry-max-ms", optarg, 3600000, &o.retry_max_ms) < 0)
				return 2;
			break;
		case 'a':
			if (get_ms("--attempts", optarg, 1000000, &o.attempts) < 0)
				return 2;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
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
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* one line per event, in order, when stderr is a pipe or the journal */
	setvbuf(stderr, NULL, _IOLBF, 0);
	if (relay_run(&o, &stop_flag, &e) < 0) {
		fprintf(stderr, "smkey relay: %s\n", e.msg);
		return 2;
	}
	return 0;
}
