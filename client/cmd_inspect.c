/*
 * smkey inspect --device SERIAL [--json]
 *
 * Every key on a card beside the archive (smkeyd's ListDeviceObjects,
 * admins only): key id, label, type and size, what CE|id holds, whether a
 * committed record has the key, and what to do about keys it lacks.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/show.h"
#include "smkey.h"
#include "varlink_client.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: smkey inspect --device SERIAL [--json] [--socket PATH]\n"
		   "  the keys on device SERIAL and what the archive knows of each\n");
}

/* "ec secp256r1", "rsa 3072", or "-". */
static void type_text(json_t *o, char *out, size_t n)
{
	json_t *bits = json_object_get(o, "bits");
	const char *type = vlc_str(o, "key_type", NULL), *curve = vlc_str(o, "curve", NULL);

	if (type == NULL)
		snprintf(out, n, "-");
	else if (curve)
		snprintf(out, n, "%s %s", type, curve);
	else if (json_is_integer(bits))
		snprintf(out, n, "%s %lld", type, (long long)json_integer_value(bits));
	else
		snprintf(out, n, "%s", type);
}

static void print_table(const char *device, json_t *objs)
{
	char type[64], rec[48];
	size_t i, unknown = 0;
	json_t *o, *seq;

	printf("device %s: %zu key%s\n", device, json_array_size(objs),
	       json_array_size(objs) == 1 ? "" : "s");
	printf("%4s  %-24s  %-18s  %-10s  %-24s  %s\n", "ID", "LABEL", "TYPE", "CE", "ARCHIVE",
	       "USES");
	json_array_foreach(objs, i, o)
	{
		type_text(o, type, sizeof(type));
		seq = json_object_get(o, "record_seq");
		if (json_is_true(json_object_get(o, "archived")) && json_is_integer(seq))
			snprintf(rec, sizeof(rec), "record %lld (%s)",
				 (long long)json_integer_value(seq),
				 vlc_show(o, "record_kind", "?"));
		else
			snprintf(rec, sizeof(rec), "NOT ARCHIVED");
		printf("%4lld  %-24s  %-18s  %-10s  %-24s  ",
		       (long long)json_integer_value(json_object_get(o, "key_id")),
		       vlc_show(o, "label", "-"), smk_show(type), vlc_show(o, "ce", "?"), rec);
		if (json_is_integer(json_object_get(o, "use_counter")))
			printf("%lld\n",
			       (long long)json_integer_value(json_object_get(o, "use_counter")));
		else
			printf("-\n");
		if (json_is_string(json_object_get(o, "certificate_subject")))
			printf("      certificate: %s\n", vlc_show(o, "certificate_subject", ""));
		if (json_is_string(json_object_get(o, "hint")))
			printf("      %s\n", vlc_show(o, "hint", ""));
		if (!json_is_true(json_object_get(o, "archived")))
			unknown++;
	}
	if (unknown)
		printf("%zu key%s not in the archive\n", unknown, unknown == 1 ? "" : "s");
}

int cmd_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"device", required_argument, NULL, 'd'},
	    {"json", no_argument, NULL, 'j'},
	    {"socket", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *device = NULL, *sock = NULL;
	int json_out = 0, opt, rc;
	varlink_reply r;
	json_t *params, *msg;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			device = optarg;
			break;
		case 'j':
			json_out = 1;
			break;
		case 's':
			sock = optarg;
			break;
		case 'h':
			usage(stdout);
			return SMKEY_EXIT_OK;
		default:
			usage(stderr);
			return SMKEY_EXIT_USAGE;
		}
	}
	if (device == NULL || optind != argc) {
		usage(stderr);
		return SMKEY_EXIT_USAGE;
	}
	params = json_pack("{ss}", "device", device);
	rc = vlc_simple("inspect", sock, "io.smkeyd.ListDeviceObjects", params, &msg, &r);
	json_decref(params);
	if (rc != SMKEY_EXIT_OK)
		return rc;
	if (json_out)
		vlc_print_json(json_object_get(r.params, "objects"));
	else
		print_table(device, json_object_get(r.params, "objects"));
	json_decref(msg);
	return SMKEY_EXIT_OK;
}
