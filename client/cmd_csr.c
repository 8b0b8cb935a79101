/*
 * smkey csr ID --subject S [-o FILE]
 * smkey selfsign ID --subject S [--days N] [-o FILE]
 *
 * A PKCS#10 request or a self-signed X.509 certificate for an archived key,
 * signed by the key inside the HSM (smkeyd's CreateCSR / SelfSign). ID is
 * the key record's sequence number, request id or label. PEM goes to
 * standard output, or to FILE (a new file).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smkey.h"
#include "varlink_client.h"

static void usage(FILE *f, int selfsign)
{
	if (selfsign)
		fprintf(f,
			"usage: smkey selfsign ID --subject SUBJECT [--days N] [-o FILE [--force]]"
			" [--socket PATH]\n"
			"  a self-signed certificate for the key, signed in the HSM; valid\n"
			"  for N days from now (default 9125, 25 years, as APK signing wants)\n");
	else
		fprintf(f, "usage: smkey csr ID --subject SUBJECT [-o FILE [--force]] [--socket PATH]\n"
			   "  a PKCS#10 request for the key, signed in the HSM, for a CA\n");
	fprintf(f, "  ID: the key record's seq, request id or label\n"
		   "  SUBJECT: as openssl -subj, e.g. \"/CN=Release key/O=Example Ltd/C=DE\"\n");
}

static int run(int argc, char **argv, int selfsign)
{
	static const struct option opts[] = {
	    {"subject", required_argument, NULL, 'S'}, {"days", required_argument, NULL, 'd'},
	    {"output", required_argument, NULL, 'o'},  {"socket", required_argument, NULL, 's'},
	    {"force", no_argument, NULL, 'f'},	       {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *cmd = selfsign ? "selfsign" : "csr", *subject = NULL, *out = NULL, *sock = NULL;
	long days = 0;
	char *end;
	varlink_reply r;
	json_t *params, *msg;
	const char *pem;
	int force = 0, opt, rc;

	while ((opt = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'S':
			subject = optarg;
			break;
		case 'd':
			days = strtol(optarg, &end, 10);
			if (!selfsign || *end || days < 1 || days > 36500) {
				fprintf(stderr, "smkey %s: --days must be from 1 to 36500\n", cmd);
				return SMKEY_EXIT_USAGE;
			}
			break;
		case 'o':
			out = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'f':
			force = 1;
			break;
		case 'h':
			usage(stdout, selfsign);
			return SMKEY_EXIT_OK;
		default:
			usage(stderr, selfsign);
			return SMKEY_EXIT_USAGE;
		}
	}
	if (subject == NULL || optind + 1 != argc) {
		usage(stderr, selfsign);
		return SMKEY_EXIT_USAGE;
	}
	params = json_pack("{ss}", "subject", subject);
	if (days)
		json_object_set_new(params, "days", json_integer(days));
	rc = vlc_key_ref(cmd, sock, argv[optind], params);
	if (rc == SMKEY_EXIT_OK)
		rc = vlc_simple(cmd, sock, selfsign ? "io.smkeyd.SelfSign" : "io.smkeyd.CreateCSR",
				params, &msg, &r);
	json_decref(params);
	if (rc != SMKEY_EXIT_OK)
		return rc;
	pem = vlc_str(r.params, selfsign ? "certificate" : "csr", "");
	rc = vlc_write_output(cmd, out, pem, strlen(pem), force);
	if (rc == SMKEY_EXIT_OK && out)
		fprintf(stderr, "smkey %s: %s written to %s\n", cmd,
			selfsign ? "certificate" : "request", out);
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
