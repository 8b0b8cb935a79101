/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A forged archive as whoever holds an archive key could write it, and what
 * `smkey audit` and `smkey verify` (this build's binaries) make of it. The
 * label of record 1 holds ESC [2K, CR, a newline and a fake "  ok  " line:
 * smkeyd's writer refuses such a label, so the record is rewritten and
 * signed again with the archive key, and the checkpoint is signed anew. The
 * policy document carries the same text in its description. Record 2 is a
 * certificate for that key whose subject holds ESC and a C1 CSI (U+009B),
 * archived the ordinary way. Every signature, proof and attestation holds:
 * the outputs must still carry no raw control byte, and must show the
 * escaped form of common/show.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "archive/internal.h"
#include "common/file.h"
#include "tests/lib/archfix.h"
#include "tests/lib/testutil.h"

#define HOSTILE "\x1b[2K\r  ok  forged\nsmkeyd: info: forged"
#define SHOWN "\\x1B[2K\\r  ok  forged\\nsmkeyd: info: forged"

static archfix P;

static const archfix_cfg cfg = {
    .prefix = "smk-hostile",
    .root_chr = "UTSRCAHOS00001",
    .dica_chr = "UTDIHOS0100001",
    .dev_chr = "UTHOS10004200000",
    .dev_serial = "UTHOS100042",
    .dev_until = 2027,
    .req_car = NULL,
    .peer = {1000, 1000, 777, "/usr/bin/smkey"},
    .t0 = 1795000000, /* 2026-11-18 */
    .commit_after = 0,
};

/* a policy document as smkeyd writes it (policy/canon.c), the description
 * as a policy file could give it */
static const char apk_doc[] =
    "{\"alg-list-hex\":\"73\",\"algorithms\":[{\"id\":115,\"name\":\"ecdsa-sha256\"}],"
    "\"description\":\"\\u001B[2K\\r  ok  forged\\nsmkeyd: info: forged\","
    "\"name\":\"release-apk\",\"use-counter\":null}";

static void sql(const char *stmt)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(P.path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, stmt, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", stmt,
		      sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* Record seq with its label replaced, as one holding the archive key could. */
static void forge_label(uint64_t seq, const char *label)
{
	smk_buf canon = SMK_BUF_INIT, forged = SMK_BUF_INIT;
	json_t *rec;
	char *hex_canon, stmt[16384];
	size_t i;
	smk_err e;

	ck_assert_msg(archive_get(P.a, seq, &canon, NULL, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_json_load(canon.data, canon.len, &rec, "record", &e) == 0, "%s",
		      e.msg);
	ck_assert_int_eq(
	    json_object_set_new(json_object_get(rec, "key"), "label", json_string(label)), 0);
	ck_assert_msg(smk_json_canonical(rec, &forged, &e) == 0, "%s", e.msg);
	json_decref(rec);
	hex_canon = malloc(forged.len * 2 + 1);
	ck_assert(hex_canon);
	for (i = 0; i < forged.len; i++)
		sprintf(hex_canon + 2 * i, "%02x", forged.data[i]);
	/* whoever holds the file can drop the writer's triggers; the record
	 * (format 3) has no signature of its own, the checkpoints over it go
	 * and the caller signs a new one with the archive key; the stored
	 * tree, which the next writer rebuilds from the records, goes too */
	archive_close(P.a);
	P.a = NULL;
	snprintf(stmt, sizeof(stmt),
		 "DROP TRIGGER records_no_update; DROP TRIGGER checkpoints_no_delete;"
		 "UPDATE records SET canonical = x'%s' WHERE seq = %llu;"
		 "DELETE FROM checkpoints WHERE size > %llu; DROP TABLE tree_nodes;",
		 hex_canon, (unsigned long long)seq, (unsigned long long)seq);
	sql(stmt);
	free(hex_canon);
	smk_buf_free(&canon);
	smk_buf_free(&forged);
}

/* A certificate for key, self-signed, whose subject CN is cn (bytes). */
static void hostile_cert(EVP_PKEY *key, const char *cn, smk_buf *der)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char *p = NULL;
	int n;

	ck_assert(x && name);
	ck_assert(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn,
					     -1, -1, 0) == 1);
	ck_assert(X509_set_version(x, 2) == 1);
	ck_assert(ASN1_INTEGER_set(X509_get_serialNumber(x), 7) == 1);
	ck_assert(X509_set_subject_name(x, name) == 1 && X509_set_issuer_name(x, name) == 1);
	ck_assert(X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL);
	ck_assert(X509_gmtime_adj(X509_getm_notAfter(x), 86400) != NULL);
	ck_assert(X509_set_pubkey(x, key) == 1);
	ck_assert(X509_sign(x, key, EVP_sha256()) > 0);
	n = i2d_X509(x, &p);
	ck_assert_int_gt(n, 0);
	ck_assert(smk_buf_add(der, p, (size_t)n) == 0);
	OPENSSL_free(p);
	X509_NAME_free(name);
	X509_free(x);
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

/* Run smkey ARGS (a shell word list); its exit status, stdout and stderr. */
static int smkey(const char *args, char **out, char **err)
{
	char cmd[1024], path_out[128], path_err[128];
	smk_buf o = SMK_BUF_INIT, r = SMK_BUF_INIT;
	smk_err e;
	int rc;

	snprintf(path_out, sizeof(path_out), "%s/stdout", P.dir);
	snprintf(path_err, sizeof(path_err), "%s/stderr", P.dir);
	snprintf(cmd, sizeof(cmd), "'%s/smkey' %s >'%s' 2>'%s'", SMK_BUILD_DIR, args, path_out,
		 path_err);
	rc = system(cmd);
	ck_assert_msg(rc != -1 && WIFEXITED(rc), "%s did not run", cmd);
	ck_assert_msg(smk_read_file(path_out, 1u << 20, &o, &e) == 0, "%s", e.msg);
	ck_assert_msg(smk_read_file(path_err, 1u << 20, &r, &e) == 0, "%s", e.msg);
	ck_assert(smk_buf_add(&o, (const uint8_t *)"", 1) == 0);
	ck_assert(smk_buf_add(&r, (const uint8_t *)"", 1) == 0);
	*out = (char *)o.data;
	*err = (char *)r.data;
	unlink(path_out);
	unlink(path_err);
	return WEXITSTATUS(rc);
}

/* No control byte but newline, no DEL, no C1 control in UTF-8, and no line
 * that starts with the forged text; n bytes of s are checked. */
static void assert_clean(const char *what, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		ck_assert_msg(c == '\n' || (c >= 0x20 && c != 0x7f),
			      "%s: raw byte 0x%02x at %zu in:\n%s", what, c, i, s);
		ck_assert_msg(!(c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
				(unsigned char)s[i + 1] <= 0x9f),
			      "%s: C1 control at %zu in:\n%s", what, i, s);
		if (i == 0 || s[i - 1] == '\n')
			ck_assert_msg(strncmp(s + i, "smkeyd: info: forged", 20) != 0 &&
					  strncmp(s + i, "  ok  forged", 12) != 0,
				      "%s: a forged line at %zu in:\n%s", what, i, s);
	}
}

static void assert_shows(const char *what, const char *s, const char *want)
{
	ck_assert_msg(strstr(s, want) != NULL, "%s: no \"%s\" in:\n%s", what, want, s);
}

START_TEST(forged_archive_shown_escaped)
{
	EVP_PKEY *key = tu_keygen("P-256");
	smk_buf der = SMK_BUF_INIT, bundle = SMK_BUF_INIT;
	archive_intent_info info;
	archive_cert_req req;
	char trust[128], path[160], args[1024], vkey[400], *out, *err;
	uint64_t seq, cert_seq, size;
	smk_err e;

	seq = archfix_make_key(&P, ARCHIVE_KIND_KEY, "release-apk", apk_doc, key, "placeholder");
	forge_label(seq, HOSTILE);
	ck_assert_msg(archive_open(P.path, 0, &P.a, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_sign_checkpoint(P.a, &P.signer, &size, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(size, seq + 1);

	hostile_cert(key,
		     HOSTILE "\xc2\x9b"
			     "2K",
		     &der);
	memset(&req, 0, sizeof(req));
	req.peer = cfg.peer;
	req.key_seq = seq;
	req.cert = der.data;
	req.cert_len = der.len;
	req.time = cfg.t0 + 60;
	ck_assert_msg(archive_cert_intent(P.a, &req, &info, &e) == 0, "%s", e.msg);
	ck_assert_msg(
	    archive_cert_commit(P.a, &P.signer, info.request_id, cfg.t0 + 60, &cert_seq, &e) == 0,
	    "%s", e.msg);

	snprintf(trust, sizeof(trust), "%s/trust", P.dir);
	ck_assert_int_eq(mkdir(trust, 0700), 0);
	snprintf(path, sizeof(path), "%s/root.cvcert", trust);
	write_file(path, P.root_cert.data, P.root_cert.len);

	/* audit: every check holds; the label and subject only escaped */
	snprintf(args, sizeof(args), "audit '%s' --trust '%s'", P.path, trust);
	ck_assert_int_eq(smkey(args, &out, &err), 0);
	assert_clean("smkey audit", out, strlen(out));
	assert_clean("smkey audit (stderr)", err, strlen(err));
	assert_shows("smkey audit", out, SHOWN);
	assert_shows("smkey audit", out, "\\xC2\\x9B2K");
	assert_shows("smkey audit", out, "Result: all checks hold");
	free(out);
	free(err);

	/* verify the certificate's bundle: its "ok" lines name the subject */
	ck_assert_msg(archive_export_bundle(P.a, cert_seq, &bundle, &e) == 0, "%s", e.msg);
	snprintf(path, sizeof(path), "%s/cert-bundle.json", P.dir);
	write_file(path, bundle.data, bundle.len);
	/* with the archive's own log pinned, so that exit 0 means verified */
	snprintf(args, sizeof(args), "log-key '%s'", P.path);
	ck_assert_int_eq(smkey(args, &out, &err), 0);
	snprintf(vkey, sizeof(vkey), "%s", out);
	vkey[strcspn(vkey, "\n")] = '\0';
	free(out);
	free(err);
	snprintf(args, sizeof(args), "verify '%s' --trust '%s' --log '%s'", path, trust, vkey);
	ck_assert_int_eq(smkey(args, &out, &err), 0);
	/* every line: the checks, what the device proves, what the log states */
	ck_assert_ptr_nonnull(strstr(out, "\nProven by the device"));
	ck_assert_ptr_nonnull(strstr(out, "Stated by log"));
	assert_clean("smkey verify", out, strlen(out));
	assert_clean("smkey verify (stderr)", err, strlen(err));
	assert_shows("smkey verify", out, "  ok  certificate CN=");
	assert_shows("smkey verify", out, "\\xC2\\x9B2K");
	free(out);
	free(err);

	smk_buf_free(&bundle);
	smk_buf_free(&der);
	EVP_PKEY_free(key);
}
END_TEST

static void setup(void)
{
	archfix_setup(&P, &cfg);
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s/trust' '%s/cert-bundle.json'", P.dir, P.dir);
	ck_assert_int_eq(system(cmd), 0);
	archfix_teardown(&P);
}

int main(void)
{
	Suite *s = suite_create("hostile_archive");
	TCase *t = tcase_create("hostile_archive");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, forged_archive_shown_escaped);
	suite_add_tcase(s, t);
	return tu_run(s);
}
