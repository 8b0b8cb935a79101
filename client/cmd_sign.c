/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey sign --key LABEL|--seq N [--algorithm A] [--digest] FILE [-o SIG]
 *
 * A signature with an archived key, made in the HSM by smkeyd's Sign under
 * the key's policy's sign: rule. FILE ("-": standard input) is the message;
 * with --digest it is the digest the algorithm signs (ecdsa, rsa-pkcs1,
 * rsa-pss, rsa-raw). The signature (ECDSA DER, RSA raw) goes to standard
 * output or SIG; the algorithm the card used and the signature record go to
 * standard error.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/b64.h"
#include "../common/file.h"
#include "../common/show.h"
#include "cmdline.h"
#include "smkey.h"
#include "varlink_client.h"

/* What the daemon takes in one message, and more than any card signs. */
#define SIGN_FILE_MAX (16u << 20)

static void usage(FILE *f, const char *name)
{
	(void)name;
	fprintf(f, "usage: smkey sign --key LABEL|--seq N [--algorithm A] [--digest] FILE\n"
		   "                  [-o SIG [--force]] [--socket PATH]\n"
		   "  sign FILE (- for standard input) with an archived key, in the HSM, as its\n"
		   "  policy's sign: section allows; the signature (ECDSA DER, RSA raw) goes to\n"
		   "  standard output or SIG\n"
		   "  --algorithm A  one of the key's list (default ecdsa-sha256)\n"
		   "  --digest       FILE is the digest the algorithm signs, not the message\n");
}

struct sign_args {
	const char *label, *algorithm;
	long seq; /* -1: no --seq */
	int digest;
};

static const smk_opt sign_options[] = {
    {"key", .offset = offsetof(struct sign_args, label)},
    {"seq", .kind = SMK_OPT_NUMBER, .offset = offsetof(struct sign_args, seq), .max = 0x7fffffffL},
    {"algorithm", .offset = offsetof(struct sign_args, algorithm)},
    {"digest", .kind = SMK_OPT_FLAG, .offset = offsetof(struct sign_args, digest)},
    {.name = NULL},
};

static const cmdline_spec sign_spec = {
    "sign", CMDLINE_OUTPUT, sign_options, .min_operands = 1, .max_operands = 1, .usage = usage};

static int read_input(const char *path, smk_buf *out)
{
	smk_err e;

	if (strcmp(path, "-") == 0) {
		char chunk[65536];
		size_t n;

		while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
			if (out->len + n > SIGN_FILE_MAX || smk_buf_add(out, chunk, n) < 0) {
				fprintf(stderr, "smkey sign: standard input: more than %u bytes\n",
					SIGN_FILE_MAX);
				return -1;
			}
		}
		if (ferror(stdin)) {
			fprintf(stderr, "smkey sign: standard input: read error\n");
			return -1;
		}
		return 0;
	}
	if (smk_read_file(path, SIGN_FILE_MAX, out, &e) < 0) {
		fprintf(stderr, "smkey sign: %s\n", smk_show(e.msg));
		return -1;
	}
	return 0;
}

int cmd_sign(int argc, char **argv)
{
	struct sign_args a = {NULL, "ecdsa-sha256", -1, 0};
	smk_buf in = SMK_BUF_INIT, sig = SMK_BUF_INIT;
	cmdline_opts o;
	varlink_reply r;
	json_t *params, *msg = NULL, *rs;
	char *b64;
	smk_err e;
	int rc;

	if (cmdline_parse(&sign_spec, argc, argv, &a, &o) < 0)
		return o.status;
	/* exactly one of --key and --seq */
	if ((a.label != NULL) == (a.seq >= 0))
		return cmdline_usage_error(&sign_spec);
	if (read_input(argv[o.first], &in) < 0) {
		smk_buf_free(&in);
		return SMKEY_EXIT_FAILED;
	}
	if (in.len == 0) {
		fprintf(stderr, "smkey sign: %s is empty\n", smk_show(argv[o.first]));
		smk_buf_free(&in);
		return SMKEY_EXIT_USAGE;
	}
	b64 = smk_b64(in.data, in.len);
	smk_buf_free(&in);
	if (b64 == NULL) {
		fprintf(stderr, "smkey sign: out of memory\n");
		return SMKEY_EXIT_FAILED;
	}
	params = json_pack("{ss, ss}", "algorithm", a.algorithm, a.digest ? "digest" : "data", b64);
	free(b64);
	if (params && a.label)
		json_object_set_new(params, "label", json_string(a.label));
	else if (params)
		json_object_set_new(params, "seq", json_integer(a.seq));
	rc = vlc_simple("sign", o.socket, "io.smkeyd.Sign", params, &msg, &r);
	json_decref(params);
	if (rc != SMKEY_EXIT_OK)
		return rc;
	if (smk_b64_decode(vlc_str(r.params, "signature", ""),
			   strlen(vlc_str(r.params, "signature", "")), &sig, "signature", &e) < 0 ||
	    sig.len == 0) {
		fprintf(stderr, "smkey sign: the reply holds no signature\n");
		rc = SMKEY_EXIT_FAILED;
	} else {
		rc = vlc_write_output("sign", o.output, sig.data, sig.len, o.force);
	}
	if (rc == SMKEY_EXIT_OK) {
		rs = json_object_get(r.params, "record_seq");
		if (json_is_integer(rs))
			fprintf(stderr, "smkey sign: %s signature, archived as record %lld\n",
				vlc_show(r.params, "algorithm", "?"),
				(long long)json_integer_value(rs));
		else
			fprintf(stderr,
				"smkey sign: %s signature (not archived: the policy says "
				"log: false)\n",
				vlc_show(r.params, "algorithm", "?"));
	}
	smk_buf_free(&sig);
	json_decref(msg);
	return rc;
}
