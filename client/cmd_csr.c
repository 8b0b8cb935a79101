/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey csr ID --subject S [-o FILE]
 * smkey selfsign ID --subject S [--days N] [-o FILE]
 *
 * A PKCS#10 request or a self-signed X.509 certificate for an archived key,
 * signed by the key inside the HSM (smkeyd's CreateCSR / SelfSign). ID is
 * the key record's sequence number, request id or label. PEM goes to
 * standard output, or to FILE (a new file).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "smkey.h"
#include "varlink_client.h"

static void usage(FILE *f, const char *name)
{
	if (strcmp(name, "selfsign") == 0)
		fprintf(f,
			"usage: smkey selfsign ID --subject SUBJECT [--days N] [-o FILE [--force]]"
			" [--socket PATH]\n"
			"  a self-signed certificate for the key, signed in the HSM; valid\n"
			"  for N days from now (default 9125, 25 years, as APK signing wants)\n");
	else
		fprintf(
		    f, "usage: smkey csr ID --subject SUBJECT [-o FILE [--force]] [--socket PATH]\n"
		       "  a PKCS#10 request for the key, signed in the HSM, for a CA\n");
	fprintf(f, "  ID: the key record's seq, request id or label\n"
		   "  SUBJECT: as openssl -subj, e.g. \"/CN=Release key/O=Example Ltd/C=DE\"\n");
}

struct csr_args {
	const char *subject;
	long days;
};

#define DAYS_MAX 36500

/* csr takes no --days, and refuses it in the words selfsign uses */
static int no_days(void *ctx, const smk_opt *opt, const char *arg)
{
	long days;

	(void)ctx;
	(void)arg;
	return smk_opts_number("smkey csr", opt->name, "", 1, DAYS_MAX, &days);
}

static const smk_opt csr_options[] = {
    {"subject", .offset = offsetof(struct csr_args, subject), .required = 1},
    {"days", .kind = SMK_OPT_OWN},
    {.name = NULL},
};

static const smk_opt self_options[] = {
    {"subject", .offset = offsetof(struct csr_args, subject), .required = 1},
    {"days", .kind = SMK_OPT_NUMBER, .offset = offsetof(struct csr_args, days), .min = 1,
     .max = DAYS_MAX},
    {.name = NULL},
};

static const cmdline_spec csr_spec = {"csr", CMDLINE_OUTPUT, csr_options, no_days, 1, 1, usage};

static const cmdline_spec self_spec = {"selfsign", CMDLINE_OUTPUT, self_options, NULL, 1, 1, usage};

static int run(int argc, char **argv, int selfsign)
{
	const cmdline_spec *spec = selfsign ? &self_spec : &csr_spec;
	const char *cmd = spec->name, *subject;
	struct csr_args a = {NULL, 0};
	long days;
	cmdline_opts o;
	varlink_reply r;
	json_t *params, *msg;
	const char *pem;
	int rc;

	if (cmdline_parse(spec, argc, argv, &a, &o) < 0)
		return o.status;
	subject = a.subject;
	days = a.days;
	params = json_pack("{ss}", "subject", subject);
	if (days)
		json_object_set_new(params, "days", json_integer(days));
	rc = vlc_key_ref(cmd, o.socket, argv[o.first], params);
	if (rc == SMKEY_EXIT_OK)
		rc = vlc_simple(cmd, o.socket,
				selfsign ? "io.smkeyd.SelfSign" : "io.smkeyd.CreateCSR", params,
				&msg, &r);
	json_decref(params);
	if (rc != SMKEY_EXIT_OK)
		return rc;
	pem = vlc_str(r.params, selfsign ? "certificate" : "csr", "");
	rc = vlc_write_output(cmd, o.output, pem, strlen(pem), o.force);
	if (rc == SMKEY_EXIT_OK && o.output)
		fprintf(stderr, "smkey %s: %s written to %s\n", cmd,
			selfsign ? "certificate" : "request", o.output);
	json_decref(msg);
	return rc;
}

int cmd_csr(int argc, char **argv)
{
	return run(argc, argv, 0);
}

int cmd_selfsign(int argc, char **argv)
{
	return run(argc, argv, 1);
}
