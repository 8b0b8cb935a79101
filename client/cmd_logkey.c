/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey log-key [ARCHIVE] [--socket PATH] [--json]
 *
 * The log's identity, as one line a relying party can publish and pin:
 * its note verifier key, <origin>+<8 hex key ID>+<base64(0x02 || SPKI DER)>
 * (archive/logkey.h, docs/archive.md "Log identity"). With ARCHIVE: read
 * offline from the archive file's record 0 (read-only); without: asked of
 * smkeyd (GetLogKey). Exit 0 printed; 1 the archive has no usable archive
 * key, or smkeyd refused; 2 usage or unreadable archive; 3 smkeyd
 * unreachable.
 */
#include <stdio.h>
#include <string.h>

#include "archive/archive.h"
#include "archive/logkey.h"
#include "archive/record.h"
#include "cmdline.h"
#include "common/show.h"
#include "smkey.h"
#include "varlink_client.h"

static void usage(FILE *f, const char *name)
{
	(void)name;
	fprintf(f, "usage: smkey log-key [ARCHIVE] [--socket PATH] [--json]\n"
		   "  print the log's verifier key (the line to pin with smkey verify --log);\n"
		   "  from the archive file offline, or from smkeyd without ARCHIVE\n");
}

static int offline(const char *path, int json)
{
	smk_buf canon = SMK_BUF_INIT;
	archive_record r;
	archive_logkey k;
	archive *a = NULL;
	smk_err e;
	int rc = 2;

	if (archive_open(path, ARCHIVE_OPEN_READONLY, &a, &e) < 0) {
		fprintf(stderr, "smkey log-key: %s\n", smk_show(e.msg));
		return 2;
	}
	rc = 1;
	if (archive_get(a, 0, &canon, NULL, &e) < 0) {
		fprintf(stderr, "smkey log-key: %s: record 0 (the archive key): %s\n",
			smk_show(path), smk_show(e.msg));
		goto out;
	}
	if (archive_record_parse(canon.data, canon.len, &r, &e) < 0) {
		fprintf(stderr, "smkey log-key: %s: record 0 (the archive key): %s\n",
			smk_show(path), smk_show(e.msg));
		goto out;
	}
	if (strcmp(r.kind, ARCHIVE_KIND_ARCHIVE_KEY) != 0) {
		fprintf(stderr, "smkey log-key: %s: record 0 is of kind %s, not the archive key\n",
			smk_show(path), smk_show(r.kind));
		archive_record_free(&r);
		goto out;
	}
	if (archive_logkey_of(r.spki.data, r.spki.len, &k, &e) < 0) {
		fprintf(stderr, "smkey log-key: %s: %s\n", smk_show(path), smk_show(e.msg));
		archive_record_free(&r);
		goto out;
	}
	archive_record_free(&r);
	if (json)
		printf("{\n  \"origin\": \"%s\",\n  \"verifier_key\": \"%s\"\n}\n", k.name, k.text);
	else
		printf("%s\n", k.text);
	rc = 0;
out:
	smk_buf_free(&canon);
	archive_close(a);
	return rc;
}

int cmd_log_key(int argc, char **argv)
{
	const cmdline_spec spec = {"log-key", CMDLINE_JSON, NULL, NULL, 0, 1, usage};
	const char *sock, *path, *vkey;
	varlink_reply r;
	json_t *msg = NULL;
	archive_logkey k;
	cmdline_opts o;
	smk_err e;
	int json, rc;

	if (cmdline_parse(&spec, argc, argv, NULL, &o) < 0)
		return o.status;
	sock = o.socket;
	json = o.json;
	path = o.first < argc ? argv[o.first] : NULL;
	if (path && sock)
		return cmdline_usage_error(&spec);
	if (path)
		return offline(path, json);
	rc = vlc_simple("log-key", sock, "io.smkeyd.GetLogKey", NULL, &msg, &r);
	if (rc != SMKEY_EXIT_OK)
		return rc;
	/* what smkeyd sends is checked like any pasted key before it is shown */
	vkey = vlc_str(r.params, "verifier_key", "");
	if (archive_logkey_parse(vkey, strlen(vkey), &k, &e) < 0 ||
	    strcmp(k.name, vlc_str(r.params, "origin", "")) != 0) {
		fprintf(stderr,
			"smkey log-key: smkeyd's answer is not a verifier key of its origin%s%s\n",
			k.name[0] ? "" : ": ", k.name[0] ? "" : smk_show(e.msg));
		json_decref(msg);
		return SMKEY_EXIT_FAILED;
	}
	if (json)
		vlc_print_json(r.params);
	else
		printf("%s\n", k.text);
	json_decref(msg);
	return SMKEY_EXIT_OK;
}
