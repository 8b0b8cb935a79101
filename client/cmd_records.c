/*
 * The archive as smkeyd serves it:
 *
 *   smkey list [--policy NAME] [--since SEQ] [--limit N] [--json]
 *   smkey show [--json] ID
 *   smkey bundle [-o FILE] ID
 *
 * ID is a record's sequence number or its request id. Every command also
 * takes --socket PATH.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/show.h"
#include "smkey.h"
#include "varlink_client.h"

struct common {
	const char *socket;
	const char *output;
	int json;
};

/* A number of up to 18 digits, or -1. */
static long long number(const char *s)
{
	long long v = 0;
	size_t i;

	if (s[0] == '\0' || strlen(s) > 18)
		return -1;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* {"seq": N} for a number, {"request_id": ID} otherwise. */
static json_t *record_id(const char *id)
{
	long long seq = number(id);

	return seq >= 0 ? json_pack("{sI}", "seq", (json_int_t)seq)
			: json_pack("{ss}", "request_id", id);
}

/* Options shared by list/show/bundle; returns optind, or -1 after usage. */
static int parse(int argc, char **argv, const char *extra, struct common *o, void (*usage)(FILE *),
		 int (*more)(int opt, const char *arg))
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},	      {"socket", required_argument, NULL, 's'},
	    {"output", required_argument, NULL, 'o'}, {"policy", required_argument, NULL, 'P'},
	    {"since", required_argument, NULL, 'S'},  {"limit", required_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	int opt;

	memset(o, 0, sizeof(*o));
	while ((opt = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		if (opt == 'j')
			o->json = 1;
		else if (opt == 's')
			o->socket = optarg;
		else if (opt == 'h') {
			usage(stdout);
			exit(SMKEY_EXIT_OK);
		} else if (opt == 'o' && strchr(extra, 'o'))
			o->output = optarg;
		else if (opt == '?' || !strchr(extra, opt) || more == NULL ||
			 more(opt, optarg) < 0) {
			usage(stderr);
			return -1;
		}
	}
	return optind;
}

static const char *list_policy;
static long long list_since = -1, list_limit = -1;

static int list_opt(int opt, const char *arg)
{
	if (opt == 'P')
		list_policy = arg;
	else if (opt == 'S' && (list_since = number(arg)) < 0)
		return -1;
	else if (opt == 'L' && (list_limit = number(arg)) < 0)
		return -1;
	return 0;
}

static void list_usage(FILE *f)
{
	fprintf(f, "usage: smkey list [--policy NAME] [--since SEQ] [--limit N] [--json]"
		   " [--socket PATH]\n"
		   "  the archive's records, oldest first\n");
}

static const char *or_dash(json_t *obj, const char *key)
{
	return vlc_show(obj, key, "-");
}

int cmd_list(int argc, char **argv)
{
	struct common o;
	varlink_reply r;
	json_t *msg, *params = json_object(), *recs, *rec;
	size_t i;
	int rc, at = parse(argc, argv, "PSL", &o, list_usage, list_opt);

	if (at != argc) {
		if (at >= 0)
			list_usage(stderr);
		json_decref(params);
		return SMKEY_EXIT_USAGE;
	}
	if (list_policy)
		json_object_set_new(params, "policy", json_string(list_policy));
	if (list_since >= 0)
		json_object_set_new(params, "since", json_integer(list_since));
	if (list_limit >= 0)
		json_object_set_new(params, "limit", json_integer(list_limit));
	rc = vlc_simple("list", o.socket, "io.smkeyd.ListRecords", params, &msg, &r);
	json_decref(params);
	if (rc != SMKEY_EXIT_OK)
		return rc;
	recs = json_object_get(r.params, "records");
	if (o.json) {
		vlc_print_json(recs);
	} else {
		printf("%6s  %-20s  %-11s  %-16s  %-24s  %-12s  %s\n", "SEQ", "TIME", "KIND",
		       "POLICY", "LABEL", "DEVICE", "KEY");
		json_array_foreach(recs, i, rec)
		{
			json_t *key = json_object_get(rec, "key_id");

			printf("%6lld  %-20s  %-11s  %-16s  %-24s  %-12s  ",
			       (long long)json_integer_value(json_object_get(rec, "seq")),
			       or_dash(rec, "time"), or_dash(rec, "kind"), or_dash(rec, "policy"),
			       or_dash(rec, "label"), or_dash(rec, "device"));
			if (json_is_integer(key))
				printf("%lld\n", (long long)json_integer_value(key));
			else
				printf("-\n");
		}
		if (json_array_size(recs) == 0)
			printf("(no records)\n");
	}
	json_decref(msg);
	return SMKEY_EXIT_OK;
}

static void show_usage(FILE *f)
{
	fprintf(f, "usage: smkey show [--json] [--socket PATH] SEQ|REQUEST-ID\n"
		   "  one archive record in full\n");
}

int cmd_show(int argc, char **argv)
{
	static const char *const fields[] = {
	    "request_id", "kind",   "time",	   "policy", "policy_digest", "label",
	    "device",	  "key_id", "fingerprint", "reason", "cvreq",	      NULL,
	};
	struct common o;
	varlink_reply r;
	json_t *msg, *params, *rec, *v;
	size_t i;
	int rc, at = parse(argc, argv, "", &o, show_usage, NULL);

	if (at < 0 || at + 1 != argc) {
		if (at >= 0)
			show_usage(stderr);
		return SMKEY_EXIT_USAGE;
	}
	params = record_id(argv[at]);
	rc = vlc_simple("show", o.socket, "io.smkeyd.GetRecord", params, &msg, &r);
	json_decref(params);
	if (rc != SMKEY_EXIT_OK)
		return rc;
	rec = json_object_get(r.params, "record");
	if (o.json) {
		vlc_print_json(rec);
	} else {
		printf("record %lld\n", (long long)json_integer_value(json_object_get(rec, "seq")));
		for (i = 0; fields[i]; i++) {
			v = json_object_get(rec, fields[i]);
			if (json_is_string(v))
				printf("  %-14s %s\n", fields[i], smk_show(json_string_value(v)));
			else if (json_is_integer(v))
				printf("  %-14s %lld\n", fields[i],
				       (long long)json_integer_value(v));
		}
		if (json_is_string(json_object_get(rec, "public_key_pem")))
			printf("%s", json_string_value(json_object_get(rec, "public_key_pem")));
	}
	json_decref(msg);
	return SMKEY_EXIT_OK;
}

static void bundle_usage(FILE *f)
{
	fprintf(f, "usage: smkey bundle [-o FILE] [--socket PATH] SEQ|REQUEST-ID\n"
		   "  the record's self-contained verification bundle (for smkey verify);\n"
		   "  to standard output unless -o names a new file\n");
}

int cmd_bundle(int argc, char **argv)
{
	struct common o;
	varlink_reply r;
	json_t *msg, *params;
	const char *bundle;
	size_t n;
	FILE *f = stdout;
	int rc, at = parse(argc, argv, "o", &o, bundle_usage, NULL), fd;

	if (at < 0 || at + 1 != argc) {
		if (at >= 0)
			bundle_usage(stderr);
		return SMKEY_EXIT_USAGE;
	}
	params = record_id(argv[at]);
	rc = vlc_simple("bundle", o.socket, "io.smkeyd.GetBundle", params, &msg, &r);
	json_decref(params);
	if (rc != SMKEY_EXIT_OK)
		return rc;
	bundle = vlc_str(r.params, "bundle", "");
	n = strlen(bundle);
	if (o.output) {
		fd = open(o.output, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (f == NULL) {
			fprintf(stderr, "smkey bundle: %s: %s\n", o.output, strerror(errno));
			if (fd >= 0)
				close(fd);
			json_decref(msg);
			return SMKEY_EXIT_FAILED;
		}
	}
	rc = fwrite(bundle, 1, n, f) == n ? SMKEY_EXIT_OK : SMKEY_EXIT_FAILED;
	if (f != stdout && fclose(f) != 0)
		rc = SMKEY_EXIT_FAILED;
	if (rc != SMKEY_EXIT_OK)
		fprintf(stderr, "smkey bundle: writing %s: %s\n", o.output ? o.output : "stdout",
			strerror(errno));
	json_decref(msg);
	return rc;
}
