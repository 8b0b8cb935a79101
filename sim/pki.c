/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The simulator's device PKI: a test root and a DICA (the "simulator CA"),
 * and per card a DevAut key, all on brainpoolP256r1 with ECDSA-SHA-256, laid
 * out like the genuine chain of reference §8.2: root with explicit domain
 * parameters, DICA and device certificate with only `06` and `86` (the
 * curve is inherited), EF 2F02 = device certificate || DICA certificate.
 *
 * Like genuine devices, many cards can share one root and DICA: keep the CA
 * in a file (sim_ca_save) and issue every card from it. A card made without
 * one gets a CA of its own whose keys are thrown away.
 */
#include "sim/sim_int.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sm/cvc.h"

#define CA_FORMAT "smkey-sim-ca-1"

struct sim_ca {
	EVP_PKEY *root_key, *dica_key;
	smk_buf root_cert, dica_cert;
};

static cvc_date years_later(const cvc_date *d, unsigned years)
{
	cvc_date r = *d;

	r.year += years;
	if (r.month == 2 && r.day == 29)
		r.day = 28;
	return r;
}

static EVP_PKEY *bp256_key(void)
{
	return sim_keygen_ec(curve_by_name("brainpoolP256r1")->nid);
}

static void cert_fields(cvc_cert_fields *f, const char *car, const char *chr, uint8_t role,
			unsigned years)
{
	memset(f, 0, sizeof(*f));
	f->car = car;
	f->chr = chr;
	f->alg = cvc_alg_default(SMK_KEY_EC);
	f->role = role;
	cvc_date_from_time(time(NULL), &f->ced);
	f->cxd = years_later(&f->ced, years);
}

void sim_ca_free(sim_ca *ca)
{
	if (ca == NULL)
		return;
	EVP_PKEY_free(ca->root_key);
	EVP_PKEY_free(ca->dica_key);
	smk_buf_free(&ca->root_cert);
	smk_buf_free(&ca->dica_cert);
	free(ca);
}

sim_ca *sim_ca_new(smk_err *e)
{
	const cvc_alg *alg = cvc_alg_default(SMK_KEY_EC);
	sim_ca *ca = calloc(1, sizeof(*ca));
	cvc_cert_fields f;

	if (ca == NULL) {
		smk_fail(e, SMK_E_NOMEM, "simulator CA: out of memory");
		return NULL;
	}
	ca->root_key = bp256_key();
	ca->dica_key = bp256_key();
	if (ca->root_key == NULL || ca->dica_key == NULL) {
		smk_fail(e, SMK_E_CRYPTO, "simulator CA: brainpoolP256r1 key generation failed");
		goto fail;
	}
	cert_fields(&f, SIM_ROOT_CHR, SIM_ROOT_CHR, CVC_ROLE_ROOT, 20);
	f.domain_params = 1;
	if (cvc_encode_cert(&ca->root_cert, &f, ca->root_key, ca->root_key, alg, e) < 0)
		goto fail;
	cert_fields(&f, SIM_ROOT_CHR, SIM_DICA_CHR, CVC_ROLE_DICA, 8);
	f.with_ext = 1; /* the genuine DICA carries an empty 65 (reference §3.1) */
	if (cvc_encode_cert(&ca->dica_cert, &f, ca->dica_key, ca->root_key, alg, e) < 0)
		goto fail;
	return ca;
fail:
	smk_context(e, "simulator CA");
	sim_ca_free(ca);
	return NULL;
}

const uint8_t *sim_ca_root(const sim_ca *ca, size_t *n)
{
	*n = ca->root_cert.len;
	return ca->root_cert.data;
}

static json_t *key_hex(EVP_PKEY *k)
{
	unsigned char *der = NULL;
	int n = i2d_PrivateKey(k, &der);
	json_t *j;

	if (n <= 0)
		return NULL;
	j = sim_hex_json(der, (size_t)n);
	OPENSSL_clear_free(der, (size_t)n);
	return j;
}

int sim_ca_save(const sim_ca *ca, const char *path, smk_err *e)
{
	json_t *o = json_pack("{s:s, s:o*, s:o*, s:o*, s:o*}", "format", CA_FORMAT, "root_cert",
			      sim_hex_json(ca->root_cert.data, ca->root_cert.len), "root_private",
			      key_hex(ca->root_key), "dica_cert",
			      sim_hex_json(ca->dica_cert.data, ca->dica_cert.len), "dica_private",
			      key_hex(ca->dica_key));
	char *text;
	int fd, rc = -1;

	if (o == NULL || json_object_size(o) != 5) {
		json_decref(o);
		return smk_fail(e, SMK_E_NOMEM, "simulator CA %s: cannot encode", path);
	}
	text = json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(o);
	/* private keys: never readable by others, never over an existing file */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (text == NULL || fd < 0) {
		smk_fail(e, SMK_E_IO, "simulator CA %s: %s", path,
			 text ? strerror(errno) : "out of memory");
	} else if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd) < 0) {
		smk_fail(e, SMK_E_IO, "simulator CA %s: write: %s", path, strerror(errno));
	} else {
		rc = 0;
	}
	if (fd >= 0)
		close(fd);
	if (text) {
		OPENSSL_cleanse(text, strlen(text));
		free(text);
	}
	return rc;
}

/* A certificate from the file: it must parse and carry the expected CHR. */
static int load_cert(json_t *o, const char *key, const char *chr, smk_buf *out, smk_err *e)
{
	cvc c;

	if (sim_json_hex(o, key, out, 1, 4096, e) < 0)
		return -1;
	if (cvc_parse_cert(out->data, out->len, &c, e) < 0)
		return smk_context(e, "%s", key);
	if (strcmp(c.chr, chr) != 0)
		return smk_fail(e, SMK_E_MISMATCH, "%s: CHR %s, expected %s", key, c.chr, chr);
	return 0;
}

static int load_key(json_t *o, const char *key, EVP_PKEY **out, smk_err *e)
{
	smk_buf b = SMK_BUF_INIT;
	const unsigned char *p;

	b.secret = 1;
	if (sim_json_hex(o, key, &b, 1, 1024, e) < 0)
		return -1;
	p = b.data;
	*out = d2i_AutoPrivateKey(NULL, &p, (long)b.len);
	if (*out == NULL || p != b.data + b.len || EVP_PKEY_get_base_id(*out) != EVP_PKEY_EC) {
		smk_buf_free(&b);
		return smk_fail(e, SMK_E_FORMAT, "%s: not an EC private key", key);
	}
	smk_buf_free(&b);
	return 0;
}

sim_ca *sim_ca_load(const char *path, smk_err *e)
{
	json_error_t je;
	json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	sim_ca *ca;
	const char *fmt;

	if (o == NULL) {
		smk_fail(e, SMK_E_IO, "simulator CA %s:%d:%d: %s", path, je.line, je.column,
			 je.text);
		return NULL;
	}
	ca = calloc(1, sizeof(*ca));
	if (ca == NULL) {
		json_decref(o);
		smk_fail(e, SMK_E_NOMEM, "simulator CA: out of memory");
		return NULL;
	}
	fmt = json_string_value(json_object_get(o, "format"));
	if (fmt == NULL || strcmp(fmt, CA_FORMAT) != 0) {
		smk_fail(e, SMK_E_FORMAT, "format: expected \"%s\"", CA_FORMAT);
		goto fail;
	}
	if (load_cert(o, "root_cert", SIM_ROOT_CHR, &ca->root_cert, e) < 0 ||
	    load_cert(o, "dica_cert", SIM_DICA_CHR, &ca->dica_cert, e) < 0 ||
	    load_key(o, "root_private", &ca->root_key, e) < 0 ||
	    load_key(o, "dica_private", &ca->dica_key, e) < 0)
		goto fail;
	json_decref(o);
	return ca;
fail:
	smk_context(e, "simulator CA %s", path);
	json_decref(o);
	sim_ca_free(ca);
	return NULL;
}

int sim_card_init_pki(sim_card *c, const sim_ca *ca, unsigned device_no, smk_buf *root_out,
		      smk_err *e)
{
	sim_ca *own = NULL;
	EVP_PKEY *dev = NULL;
	smk_buf chain = SMK_BUF_INIT;
	struct sim_key *k = NULL;
	cvc_cert_fields f;
	char chr[CVC_REF_MAX + 1];
	int rc = -1;

	if (device_no > 99999)
		return smk_fail(e, SMK_E_ARG, "device PKI: device number %u exceeds 5 digits",
				device_no);
	if (c->keys[0] != NULL)
		return smk_fail(e, SMK_E_ARG, "device PKI: card %s already has a device key",
				c->chr);
	if (ca == NULL) {
		own = sim_ca_new(e);
		if (own == NULL)
			return smk_context(e, "device PKI");
		ca = own;
	}
	/* reference §4.2: country, mnemonic, 5 digits, 00000 */
	snprintf(chr, sizeof(chr), "ZZSIM%05u00000", device_no);
	dev = bp256_key();
	k = calloc(1, sizeof(*k));
	if (dev == NULL || k == NULL) {
		smk_fail(e, SMK_E_CRYPTO, "device PKI: brainpoolP256r1 key generation failed");
		goto done;
	}
	cert_fields(&f, SIM_DICA_CHR, chr, CVC_ROLE_DEVICE, 5);
	if (cvc_encode_cert(&chain, &f, dev, ca->dica_key, cvc_alg_default(SMK_KEY_EC), e) < 0) {
		smk_context(e, "device PKI");
		goto done;
	}
	if (smk_buf_add(&chain, ca->dica_cert.data, ca->dica_cert.len) < 0 ||
	    sim_file_put(c, SIM_FID_DEVAUT, chain.data, chain.len) < 0 ||
	    (root_out && smk_buf_add(root_out, ca->root_cert.data, ca->root_cert.len) < 0)) {
		smk_fail(e, SMK_E_NOMEM, "device PKI: out of memory");
		goto done;
	}
	k->id = 0;
	k->type = SMK_KEY_EC;
	k->pkey = dev;
	dev = NULL;
	c->keys[0] = k;
	k = NULL;
	strcpy(c->chr, chr);
	c->dirty = true;
	rc = 0;
done:
	EVP_PKEY_free(dev);
	sim_key_free(k);
	smk_buf_free(&chain);
	sim_ca_free(own);
	return rc;
}
