/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey import-cert ID FILE [-o BUNDLE [--force]] [--json]
 *
 * Writes the certificate in FILE (PEM or DER) into the key's CE|id through
 * smkeyd (ImportCertificate). The daemon does it only for a key whose record
 * is committed and only when the certificate holds that key; the import is
 * archived, and its bundle (which carries the key record too) is written to
 * BUNDLE when asked.
 */
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/file.h"
#include "cmdline.h"
#include "common/show.h"
#include "smkey.h"
#include "varlink_client.h"

#define CERT_FILE_MAX 65536

static void usage(FILE *f, const char *name)
{
	(void)name;
	fprintf(f, "usage: smkey import-cert ID FILE [-o BUNDLE] [--json] [--socket PATH]\n"
		   "  write the certificate in FILE (PEM or DER) into the key's CE|id and\n"
		   "  archive the import; ID: the key record's seq, request id or label\n");
}

/* The certificate as PEM, whatever FILE holds; NULL after printing why. */
static char *cert_pem(const char *path)
{
	smk_buf text = SMK_BUF_INIT;
	const unsigned char *p;
	X509 *x = NULL;
	BIO *in = NULL, *out = NULL;
	char *pem = NULL, *data;
	long n;
	smk_err e;

	if (smk_read_file(path, CERT_FILE_MAX, &text, &e) < 0) {
		fprintf(stderr, "smkey import-cert: %s\n", smk_show(e.msg));
		return NULL;
	}
	p = text.data;
	in = BIO_new_mem_buf(text.data, (int)text.len);
	if (in)
		x = PEM_read_bio_X509(in, NULL, NULL, NULL);
	if (x == NULL)
		x = d2i_X509(NULL, &p, (long)text.len);
	out = BIO_new(BIO_s_mem());
	if (x == NULL)
		fprintf(stderr, "smkey import-cert: %s holds no X.509 certificate (PEM or DER)\n",
			path);
	else if (out && PEM_write_bio_X509(out, x) == 1 && (n = BIO_get_mem_data(out, &data)) > 0 &&
		 (pem = malloc((size_t)n + 1)) != NULL) {
		memcpy(pem, data, (size_t)n);
		pem[n] = '\0';
	}
	X509_free(x);
	BIO_free(in);
	BIO_free(out);
	smk_buf_free(&text);
	return pem;
}

int cmd_import_cert(int argc, char **argv)
{
	const cmdline_spec spec = {"import-cert", CMDLINE_JSON | CMDLINE_OUTPUT, NULL, NULL, 2, 2,
				   usage};
	const char *out, *sock, *bundle;
	int json_out, force, rc;
	cmdline_opts o;
	varlink_reply r;
	json_t *params, *msg;
	char *pem;

	if (cmdline_parse(&spec, argc, argv, NULL, &o) < 0)
		return o.status;
	out = o.output;
	sock = o.socket;
	json_out = o.json;
	force = o.force;
	pem = cert_pem(argv[o.first + 1]);
	if (pem == NULL)
		return SMKEY_EXIT_USAGE;
	params = json_pack("{ss}", "certificate", pem);
	free(pem);
	rc = vlc_key_ref("import-cert", sock, argv[o.first], params);
	if (rc == SMKEY_EXIT_OK)
		rc = vlc_simple("import-cert", sock, "io.smkeyd.ImportCertificate", params, &msg,
				&r);
	json_decref(params);
	if (rc != SMKEY_EXIT_OK)
		return rc;
	bundle = vlc_str(r.params, "bundle", "");
	if (out)
		rc = vlc_write_output("import-cert", out, bundle, strlen(bundle), force);
	if (json_out) {
		vlc_print_json(r.params);
	} else {
		printf("certificate %s written to the key of record %lld; import archived as "
		       "record %lld\n",
		       vlc_show(r.params, "fingerprint", "?"),
		       (long long)json_integer_value(json_object_get(r.params, "key_seq")),
		       (long long)json_integer_value(json_object_get(r.params, "seq")));
		if (out && rc == SMKEY_EXIT_OK)
			printf("  bundle  %s\n", out);
	}
	json_decref(msg);
	return rc;
}
