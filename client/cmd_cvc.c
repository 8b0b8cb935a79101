/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey cvc: look at CV certificates, device chains (EF 2F02) and
 * authenticated CV requests, and verify them offline against pinned roots.
 *
 *   smkey cvc dump FILE|-
 *   smkey cvc verify --chain FILE [--request FILE] [--trust DIR] [--at YYYY-MM-DD|now]
 *
 * Input is binary or hex text (auto-detected). Exit status: 0 the thing
 * holds, 1 it does not (printed as "smkey cvc verify: <first failure>"),
 * 2 usage or unreadable input.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/digest.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/opts.h"
#include "common/show.h"
#include "sm/chain.h"
#include "sm/tlv.h"
#include "smkey.h"

#define DEFAULT_TRUST_DIR "/etc/smkeyd/trust"
/* A chain is ~460 bytes and an RSA-4096 request ~1.2 KiB; hex doubles it. */
#define INPUT_MAX (1u << 20)

static void usage(FILE *f)
{
	fprintf(f, "usage: smkey cvc dump FILE|-\n"
		   "       smkey cvc verify --chain FILE [--request FILE] [--trust DIR]"
		   " [--at YYYY-MM-DD|now]\n"
		   "FILE is binary or hex text; - reads standard input.\n"
		   "verify: --trust defaults to " DEFAULT_TRUST_DIR " when it exists.\n");
}

/* The bytes of FILE (or stdin for "-"), hex text decoded. */
static int read_input(const char *path, smk_buf *out, smk_err *e)
{
	smk_buf raw = SMK_BUF_INIT;
	int r = smk_read_stream(path, SMK_READ_STDIN, INPUT_MAX, &raw, e);

	if (r == 0 && cvc_input_bytes(raw.data, raw.len, out, e) < 0)
		r = smk_context(e, "%s", path);
	smk_buf_free(&raw);
	return r;
}

/* ---- printing ---- */

/* Values line up in one column whatever the nesting. */
#define VALUE_COL 26

static void label(int indent, const char *name)
{
	printf("%*s%-*s", indent, "", VALUE_COL - indent, name);
}

/* Hex folded at 32 bytes a line under the value column. An uncompressed
 * point (04||x||y) is shown as "04 x" and "y" on the next line. */
static void print_hex(int indent, const char *name, const uint8_t *p, size_t n)
{
	size_t i, line = 32, start = 0;

	label(indent, name);
	if (n == 0)
		printf("(empty)");
	if (n > 1 && p[0] == 0x04 && n % 2 == 1 && (n - 1) / 2 <= 66) {
		printf("04 ");
		start = 1;
		line = (n - 1) / 2;
	}
	for (i = start; i < n; i++) {
		if (i > start && (i - start) % line == 0)
			printf("\n%*s%s", VALUE_COL, "", start ? "   " : "");
		printf("%02X", p[i]);
	}
	printf("\n");
}

static void print_date(int indent, const char *name, const cvc_date *d)
{
	char buf[16];

	cvc_date_format(d, buf, sizeof(buf));
	label(indent, name);
	printf("%s\n", buf);
}

static const char *component_name(uint32_t tag, enum smk_keytype type)
{
	if (type == SMK_KEY_RSA)
		return tag == 0x81 ? "modulus (81)" : "exponent (82)";
	switch (tag) {
	case 0x81:
		return "prime p (81)";
	case 0x82:
		return "coefficient a (82)";
	case 0x83:
		return "coefficient b (83)";
	case 0x84:
		return "base point G (84)";
	case 0x85:
		return "order r (85)";
	case 0x86:
		return "public point (86)";
	case 0x87:
		return "cofactor f (87)";
	}
	return "?";
}

static void print_key(int in, const cvc_pubkey *k)
{
	char oid[64];
	tlv t;
	tlv_iter it;
	smk_err e;
	EVP_PKEY *pk = NULL;

	cvc_oid_text(k->alg->oid, sizeof(k->alg->oid), oid, sizeof(oid));
	label(in, "public key (7F49)");
	printf("%s (%s)\n", k->alg->name, oid);
	label(in + 2, "type");
	if (k->alg->keytype == SMK_KEY_RSA)
		printf("RSA, %zu-bit modulus\n", (k->modulus_len - (k->modulus[0] == 0)) * 8);
	else if (k->curve)
		printf("EC %s (%u bits), explicit domain parameters\n", k->curve->name,
		       k->curve->field_bits);
	else
		printf("EC, curve inherited from the issuer (no domain parameters)\n");
	/* every component as it is in the template; the parser already
	 * checked this level, so the walk cannot fail */
	tlv_parse(k->raw, k->raw_len, &t, &e);
	tlv_iter_init(&it, t.value, t.len);
	while (tlv_next(&it, &t, &e) == 1)
		if (t.tag != 0x06)
			print_hex(in + 2, component_name(t.tag, k->alg->keytype), t.value, t.len);
	if (k->alg->keytype == SMK_KEY_RSA || k->curve) {
		smk_buf spki = SMK_BUF_INIT;
		char fp[65];

		if (cvc_pubkey_to_evp(k, NULL, &pk, &e) < 0 || cvc_spki_der(pk, &spki, &e) < 0) {
			label(in + 2, "key");
			printf("invalid: %s\n", smk_show(e.msg));
		} else {
			smk_sha256_hex(spki.data, spki.len, fp, NULL);
			label(in + 2, "SPKI SHA-256");
			printf("%s\n", fp);
		}
		smk_buf_free(&spki);
		EVP_PKEY_free(pk);
	}
}

static void print_cvc(int in, const cvc *c)
{
	char oid[64];
	int role;

	printf("%*s%s %s (7F21, %zu bytes)\n", in, "",
	       c->kind == CVC_CERT ? "certificate" : "CV request", c->chr, c->raw_len);
	in += 2;
	label(in, "profile (5F29)");
	printf("00\n");
	label(in, "CAR (42)");
	printf("%s\n", c->has_car ? c->car : "(none)");
	print_key(in, &c->key);
	label(in, "CHR (5F20)");
	printf("%s\n", c->chr);
	if (c->kind == CVC_CERT) {
		role = cvc_role(c);
		if (cvc_oid_text(c->chat_oid, c->chat_oid_len, oid, sizeof(oid)) < 0)
			snprintf(oid, sizeof(oid), "(malformed OID)");
		label(in, "role OID (7F4C)");
		printf("%s%s\n", oid, cvc_role_is_sc_hsm(c) ? " (id-SC-HSM)" : "");
		print_hex(in, "role bits (53)", c->chat_bits, c->chat_bits_len);
		label(in, "role");
		printf("%s\n",
		       cvc_role_is_sc_hsm(c) ? cvc_role_name(role) : "(not a SmartCard-HSM role)");
		print_date(in, "effective (5F25)", &c->ced);
		print_date(in, "expires (5F24)", &c->cxd);
	}
	if (c->has_ext)
		print_hex(in, "extensions (65)", c->ext, c->ext_len);
	print_hex(in, "signature (5F37)", c->sig, c->sig_len);
}

static int dump(const char *path)
{
	smk_buf b = SMK_BUF_INIT;
	cvc_authreq a;
	cvc c;
	tlv t;
	smk_err e;
	size_t off = 0, count = 0;
	int r = 0;

	if (read_input(path, &b, &e) < 0) {
		fprintf(stderr, "smkey cvc dump: %s\n", smk_show(e.msg));
		return 2;
	}
	if (b.data[0] == 0x67) {
		if (cvc_parse_authreq(b.data, b.len, &a, &e) < 0) {
			r = 1;
		} else {
			printf("authenticated request (67, %zu bytes)\n", a.raw_len);
			print_cvc(2, &a.req);
			label(2, "outer CAR (42)");
			printf("%s\n", a.outer_car);
			print_hex(2, "outer signature", a.outer_sig, a.outer_sig_len);
		}
	} else {
		/* one certificate or request, or EF 2F02: device cert then DICA cert */
		while (r == 0 && off < b.len) {
			if (tlv_parse(b.data + off, b.len - off, &t, &e) < 0 ||
			    cvc_parse(t.raw, t.raw_len, &c, &e) < 0) {
				smk_context(&e, "object %zu at offset %zu", count + 1, off);
				r = 1;
				break;
			}
			if (count == 0 && t.raw_len < b.len)
				printf("device chain (EF 2F02, %zu bytes)\n", b.len);
			if (count > 0)
				printf("\n");
			print_cvc(t.raw_len < b.len || count ? 2 : 0, &c);
			off += t.raw_len;
			count++;
		}
	}
	if (r)
		fprintf(stderr, "smkey cvc dump: %s\n", smk_show(e.msg));
	smk_buf_free(&b);
	return r;
}

/* ---- verify ---- */

static int trust_dir_default(const char **dir)
{
	struct stat st;

	if (stat(DEFAULT_TRUST_DIR, &st) == 0 && S_ISDIR(st.st_mode)) {
		*dir = DEFAULT_TRUST_DIR;
		return 0;
	}
	return -1;
}

static void print_validity(const char *what, const char *chr, const chain_validity *v,
			   const char *extra)
{
	char from[16], to[16];

	cvc_date_format(&v->ced, from, sizeof(from));
	cvc_date_format(&v->cxd, to, sizeof(to));
	printf("  %-14s%-18svalid %s .. %s, %s\n", what, chr, from, to, extra);
}

static void print_verified(const devaut_chain *c, const char *trust, const cvc_date *at)
{
	smk_buf spki = SMK_BUF_INIT;
	char fp[65], day[16];
	smk_err e;

	cvc_date_format(at, day, sizeof(day));
	printf("device chain verified at %s against %s\n", day, trust);
	print_validity("root", c->root_chr, &c->root_valid, "pinned, self-signed");
	print_validity("DICA", c->dica_chr, &c->dica_valid, "signed by root");
	print_validity("device", c->device_chr, &c->device_valid, "signed by DICA");
	printf("  %-14s%s\n", "serial", c->serial);
	if (cvc_spki_der(c->key, &spki, &e) == 0) {
		smk_sha256_hex(spki.data, spki.len, fp, NULL);
		printf("  %-14sEC %s, SPKI SHA-256 %s\n", "device key", c->curve->name, fp);
	}
	smk_buf_free(&spki);
}

static void print_attested(const chain_attested *k, const devaut_chain *c)
{
	char fp[65];

	smk_sha256_hex(k->spki.data, k->spki.len, fp, NULL);
	printf("request verified: key held by device %s (made there or imported: a CV "
	       "request does not say which)\n",
	       c->serial);
	printf("  %-14s%s (CAR %s)\n", "CHR", k->chr, k->has_car ? k->car : "none");
	printf("  %-14sby device key %s (%s)\n", "outer sig", k->outer_car, c->alg->name);
	printf("  %-14sby the new key: proof of possession (%s)\n", "inner sig", k->alg->name);
	if (k->type == SMK_KEY_EC)
		printf("  %-14sEC %s (%u bits)\n", "key", k->curve->name, k->bits);
	else
		printf("  %-14sRSA %u bits\n", "key", k->bits);
	printf("  %-14s%s\n", "SPKI SHA-256", fp);
	fputs(k->pem, stdout);
}

struct verify_args {
	const char *chain_file, *req_file, *trust_dir, *at_text;
	int help;
};

/* --help only: no -h here */
static const smk_opt verify_options[] = {
    {"chain", .offset = offsetof(struct verify_args, chain_file), .required = 1},
    {"request", .offset = offsetof(struct verify_args, req_file)},
    {"trust", .offset = offsetof(struct verify_args, trust_dir)},
    {"at", .offset = offsetof(struct verify_args, at_text)},
    {"help", .kind = SMK_OPT_STOP, .offset = offsetof(struct verify_args, help)},
    {.name = NULL},
};

static int verify(int argc, char **argv)
{
	struct verify_args a = {NULL, NULL, NULL, "now", 0};
	const smk_opt_group opts = {verify_options, &a, NULL};
	trust_store trust = TRUST_STORE_INIT;
	smk_buf chain = SMK_BUF_INIT, req = SMK_BUF_INIT;
	devaut_chain dev;
	chain_attested key;
	cvc_date at_day;
	time_t at;
	smk_err e;
	int first = argc, status = 2;

	memset(&dev, 0, sizeof(dev));
	memset(&key, 0, sizeof(key));
	if (smk_opts_parse("smkey cvc verify", &opts, 1, argc, argv, &first) != 0 ||
	    first != argc) {
		usage(a.help ? stdout : stderr);
		return a.help ? 0 : 2;
	}
	if (a.trust_dir == NULL && trust_dir_default(&a.trust_dir) < 0) {
		fprintf(stderr,
			"smkey cvc verify: no %s; name the trust anchors with --trust DIR\n",
			DEFAULT_TRUST_DIR);
		return 2;
	}
	if (strcmp(a.at_text, "now") == 0) {
		at = time(NULL);
	} else if (cvc_date_parse(a.at_text, &at_day, &e) == 0) {
		at = cvc_date_to_time(&at_day);
	} else {
		fprintf(stderr, "smkey cvc verify: --at: %s\n", smk_show(e.msg));
		return 2;
	}
	cvc_date_from_time(at, &at_day);
	if (trust_load_dir(&trust, a.trust_dir, &e) < 0 ||
	    read_input(a.chain_file, &chain, &e) < 0 ||
	    (a.req_file && read_input(a.req_file, &req, &e) < 0)) {
		fprintf(stderr, "smkey cvc verify: %s\n", smk_show(e.msg));
		goto done;
	}
	status = 1;
	if (chain_validate(chain.data, chain.len, &trust, at, &dev, &e) < 0 ||
	    (a.req_file && chain_verify_authreq(&dev, req.data, req.len, &key, &e) < 0)) {
		printf("smkey cvc verify: %s\n", smk_show(e.msg));
		goto done;
	}
	print_verified(&dev, a.trust_dir, &at_day);
	if (a.req_file)
		print_attested(&key, &dev);
	status = 0;
done:
	chain_attested_free(&key);
	chain_free(&dev);
	trust_free(&trust);
	smk_buf_free(&chain);
	smk_buf_free(&req);
	return status;
}

int cmd_cvc(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "dump") == 0) {
		if (argc != 3) {
			usage(stderr);
			return 2;
		}
		return dump(argv[2]);
	}
	if (argc >= 2 && strcmp(argv[1], "verify") == 0)
		return verify(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
