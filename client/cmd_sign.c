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
 *
 * A message of up to VARLINK_SIGN_DATA_MAX (32 KiB) goes to smkeyd as it
 * is (Sign's data: the card hashes, or smkeyd when the card cannot take it,
 * docs/policy.md). A larger one would not fit smkeyd's default message
 * size, so for ecdsa-sha256 (and ecdsa) smkey reads it through a running
 * SHA-256, whatever its size, and sends the hash as digest with ecdsa, as
 * the PKCS#11 module does (docs/pkcs11.md "Large messages"): the signature
 * is the same ECDSA over the message's SHA-256, and the record holds that
 * SHA-256, so `smkey verify --signed FILE` checks the file. The other
 * algorithms cannot sign such a file, and smkey says so without asking
 * smkeyd: for them smkeyd takes no message the card cannot hash in one
 * SIGN (1199 bytes), and rsa-pkcs1, rsa-pss and rsa-raw sign only what the
 * caller hashed or padded (--digest).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../archive/archive.h"
#include "../common/b64.h"
#include "../common/digest.h"
#include "../common/show.h"
#include "cmdline.h"
#include "smkey.h"
#include "varlink_client.h"
#include "varlink_errors.h"

static void usage(FILE *f, const char *name)
{
	(void)name;
	fprintf(f,
		"usage: smkey sign --key LABEL|--seq N [--algorithm A] [--digest] FILE\n"
		"                  [-o SIG [--force]] [--socket PATH]\n"
		"  sign FILE (- for standard input) with an archived key, in the HSM, as its\n"
		"  policy's sign: section allows; the signature (ECDSA DER, RSA raw) goes to\n"
		"  standard output or SIG\n"
		"  --algorithm A  one of the key's list (default ecdsa-sha256)\n"
		"  --digest       FILE is the digest the algorithm signs, not the message\n"
		"  FILE may be of any size: over %u bytes smkey hashes it (SHA-256) and the\n"
		"  card signs the hash with ecdsa, the signature ecdsa-sha256 makes; only\n"
		"  ecdsa-sha256 and ecdsa sign such a file, with a key whose list holds ecdsa\n",
		VARLINK_SIGN_DATA_MAX);
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

/* FILE as smkey sends it: the bytes while there are at most
 * VARLINK_SIGN_DATA_MAX, else their SHA-256 only. */
typedef struct sign_input {
	const char *name; /* FILE as given */
	smk_buf data;	  /* the whole input, unless large */
	int large;	  /* more than VARLINK_SIGN_DATA_MAX bytes */
	uint64_t size;	  /* with large: all the bytes read */
	uint8_t sha256[SMK_SHA256_LEN];
} sign_input;

/* The algorithms whose signature of a message is ecdsa's of the message's
 * SHA-256: smkey may hash for them (sign_choose in daemon/sign.c has the
 * same rule for smkeyd). */
static int host_hashable(const char *alg)
{
	return strcmp(alg, "ecdsa-sha256") == 0 || strcmp(alg, "ecdsa") == 0;
}

static FILE *open_input(const char *path)
{
	struct stat st;
	FILE *f;

	if (strcmp(path, "-") == 0)
		return stdin;
	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "smkey sign: %s: cannot open: %s\n", smk_show(path),
			strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "smkey sign: %s: not a regular file\n", smk_show(path));
		fclose(f);
		return NULL;
	}
	return f;
}

/* FILE in messages. */
static const char *shown(const sign_input *in)
{
	return strcmp(in->name, "-") == 0 ? "standard input" : smk_show(in->name);
}

/* "m.tar is 5242880 bytes, more than the 32768 bytes smkey sends as the
 * message"; of a pipe only what was read is known. */
static void say_size(const sign_input *in, FILE *f, char *out, size_t n)
{
	struct stat st;

	if (f != stdin && fstat(fileno(f), &st) == 0)
		snprintf(out, n,
			 "%s is %llu bytes, more than the %u bytes smkey sends as the message",
			 shown(in), (unsigned long long)st.st_size, VARLINK_SIGN_DATA_MAX);
	else
		snprintf(out, n, "%s is more than the %u bytes smkey sends as the message",
			 shown(in), VARLINK_SIGN_DATA_MAX);
}

/* A file over VARLINK_SIGN_DATA_MAX that smkey cannot hash for a: the
 * refusal, before smkeyd is asked. */
static int refuse_large(const struct sign_args *a, const sign_input *in, FILE *f)
{
	char size[300];

	say_size(in, f, size, sizeof(size));
	if (a->digest)
		fprintf(stderr,
			"smkey sign: %s, and with --digest FILE is the digest the algorithm signs "
			"(a hash or DigestInfo, %u bytes at most), not the message; leave out "
			"--digest to sign the file\n",
			size, ARCHIVE_SIG_DIGEST_MAX);
	else
		fprintf(stderr,
			"smkey sign: %s; smkey hashes a larger file itself (SHA-256, signed with "
			"ecdsa) only for ecdsa-sha256 and ecdsa, not for %s: sign it with "
			"--algorithm ecdsa-sha256 and a key whose list holds ecdsa, or hash it "
			"yourself and sign the hash with --digest and an algorithm the key lists "
			"that signs one (ecdsa, rsa-pss, rsa-pkcs1 with a DigestInfo)\n",
			size, smk_show(a->algorithm));
	return SMKEY_EXIT_USAGE;
}

/* FILE into in: at most VARLINK_SIGN_DATA_MAX + 1 bytes are held (one more
 * than is sent tells a large file); the rest of a large file only passes
 * through the hash, so memory stays bounded whatever its size. Returns an
 * exit status, the error printed. */
static int read_input(const struct sign_args *a, sign_input *in)
{
	FILE *f = open_input(in->name);
	size_t want = VARLINK_SIGN_DATA_MAX + 1, n;
	int rc = SMKEY_EXIT_OK;
	smk_err e;

	if (f == NULL)
		return SMKEY_EXIT_FAILED;
	if (smk_buf_reserve(&in->data, want) < 0) {
		fprintf(stderr, "smkey sign: out of memory\n");
		rc = SMKEY_EXIT_FAILED;
		goto out;
	}
	while (in->data.len < want &&
	       (n = fread(in->data.data + in->data.len, 1, want - in->data.len, f)) > 0)
		in->data.len += n;
	if (ferror(f)) {
		fprintf(stderr, "smkey sign: %s: read error: %s\n", shown(in), strerror(errno));
		rc = SMKEY_EXIT_FAILED;
		goto out;
	}
	if (in->data.len <= VARLINK_SIGN_DATA_MAX)
		goto out;
	if (a->digest || !host_hashable(a->algorithm)) {
		rc = refuse_large(a, in, f);
		goto out;
	}
	in->large = 1;
	rc = smk_sha256_stream(in->data.data, in->data.len, f, in->name, in->sha256, &in->size, &e);
	if (rc < 0) {
		fprintf(stderr, "smkey sign: %s\n", smk_show(e.msg));
		rc = SMKEY_EXIT_FAILED;
	}
out:
	if (f != stdin)
		fclose(f);
	return rc;
}

/* Sign's parameters for in: data or digest, and the algorithm (ecdsa for
 * the hash of a large file). */
static json_t *sign_params(const struct sign_args *a, const sign_input *in)
{
	const char *alg = in->large ? "ecdsa" : a->algorithm;
	char *b64 = in->large ? smk_b64(in->sha256, sizeof(in->sha256))
			      : smk_b64(in->data.data, in->data.len);
	json_t *params;

	if (b64 == NULL)
		return NULL;
	params = json_pack("{ss, ss}", "algorithm", alg, a->digest || in->large ? "digest" : "data",
			   b64);
	free(b64);
	if (params && a->label)
		json_object_set_new(params, "label", json_string(a->label));
	else if (params)
		json_object_set_new(params, "seq", json_integer(a->seq));
	return params;
}

/* An error reply to the Sign of a large file's hash: the usual words, and
 * for a key whose list lacks ecdsa why smkey asked for it. */
static int report_large(const sign_input *in, const varlink_reply *r)
{
	const char *parameter = vlc_str(r->params, "parameter", "");

	if (strcmp(r->error, SMK_VERR_INVALID_PARAMETER) != 0 ||
	    strcmp(parameter, "algorithm") != 0)
		return vlc_report_error("sign", r);
	fprintf(stderr,
		"smkey sign: %s is %llu bytes, more than the %u bytes smkey sends as the "
		"message, so smkey sent its SHA-256 for the card to sign with ecdsa, and smkeyd "
		"refused: %s; sign a file this large with a key whose algorithm list holds ecdsa "
		"(a key's list is fixed when it is made: docs/policy.md)\n",
		shown(in), (unsigned long long)in->size, VARLINK_SIGN_DATA_MAX,
		vlc_show(r->params, "reason", "?"));
	return SMKEY_EXIT_USAGE;
}

int cmd_sign(int argc, char **argv)
{
	struct sign_args a = {NULL, "ecdsa-sha256", -1, 0};
	sign_input in = {.data = SMK_BUF_INIT};
	smk_buf sig = SMK_BUF_INIT;
	cmdline_opts o;
	varlink_reply r;
	json_t *params, *msg = NULL, *rs;
	char how[100] = "";
	smk_err e;
	int rc;

	if (cmdline_parse(&sign_spec, argc, argv, &a, &o) < 0)
		return o.status;
	/* exactly one of --key and --seq */
	if ((a.label != NULL) == (a.seq >= 0))
		return cmdline_usage_error(&sign_spec);
	in.name = argv[o.first];
	rc = read_input(&a, &in);
	if (rc == SMKEY_EXIT_OK && in.data.len == 0) {
		fprintf(stderr, "smkey sign: %s is empty\n", shown(&in));
		rc = SMKEY_EXIT_USAGE;
	}
	if (rc != SMKEY_EXIT_OK) {
		smk_buf_free(&in.data);
		return rc;
	}
	params = sign_params(&a, &in);
	smk_buf_free(&in.data);
	if (params == NULL) {
		fprintf(stderr, "smkey sign: out of memory\n");
		return SMKEY_EXIT_FAILED;
	}
	rc = vlc_call("sign", o.socket, "io.smkeyd.Sign", params, &msg, &r);
	json_decref(params);
	if (rc != SMKEY_EXIT_OK)
		return rc;
	if (r.error) {
		rc = in.large ? report_large(&in, &r) : vlc_report_error("sign", &r);
		json_decref(msg);
		return rc;
	}
	if (smk_b64_decode(vlc_str(r.params, "signature", ""),
			   strlen(vlc_str(r.params, "signature", "")), &sig, "signature", &e) < 0 ||
	    sig.len == 0) {
		fprintf(stderr, "smkey sign: the reply holds no signature\n");
		rc = SMKEY_EXIT_FAILED;
	} else {
		rc = vlc_write_output("sign", o.output, sig.data, sig.len, o.force);
	}
	if (in.large)
		snprintf(how, sizeof(how), " (smkey hashed the %llu bytes with SHA-256)",
			 (unsigned long long)in.size);
	if (rc == SMKEY_EXIT_OK) {
		rs = json_object_get(r.params, "record_seq");
		if (json_is_integer(rs))
			fprintf(stderr, "smkey sign: %s signature%s, archived as record %lld\n",
				vlc_show(r.params, "algorithm", "?"), how,
				(long long)json_integer_value(rs));
		else
			fprintf(stderr,
				"smkey sign: %s signature%s (not archived: the policy says "
				"log: false)\n",
				vlc_show(r.params, "algorithm", "?"), how);
	}
	smk_buf_free(&sig);
	json_decref(msg);
	return rc;
}
