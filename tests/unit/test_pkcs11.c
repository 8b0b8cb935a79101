/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libsmkey-pkcs11.so (pkcs11/) as an application loads it (dlopen,
 * C_GetFunctionList), against fake_smkeyd: a small varlink server in this
 * file, not smkeyd, that answers ListSigningKeys and Sign with OpenSSL keys
 * and records what the module sent. What a user cares about: the objects
 * pair by CKA_ID and the private key is not extractable, signatures verify
 * with the public key, a large message is hashed on the host only when the
 * key allows it, smkeyd's refusals come back as PKCS#11 errors, the archive
 * key is never an object, and threads sign at the same time.
 */
#include <dlfcn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/b64.h"
#include "proto/varlink.h"
#include "tests/lib/testutil.h"

#define MODULE SMK_BUILD_DIR "/pkcs11/libsmkey-pkcs11.so"

/* ---- fake_smkeyd ---- */

enum fake_mode { FAKE_OK, FAKE_DENY, FAKE_NOT_FOUND, FAKE_UNAVAILABLE, FAKE_BAD_KEY };

static struct {
	char dir[64], path[100];
	int lfd;
	pthread_t thread;
	pthread_mutex_t mu;
	EVP_PKEY *ec, *ec_card_only, *rsa;
	X509 *cert;
	enum fake_mode mode;
	/* the last Sign */
	int signs;
	char alg[32];
	int had_digest;
	smk_buf input;
} fk = {.mu = PTHREAD_MUTEX_INITIALIZER};

static char *b64_of_der(int len, unsigned char *der)
{
	char *s;

	ck_assert_int_gt(len, 0);
	s = smk_b64(der, (size_t)len);
	OPENSSL_free(der);
	return s;
}

static json_t *key_entry(long long seq, const char *label, EVP_PKEY *pk, const char *type,
			 const char *algs[], X509 *cert)
{
	unsigned char *der = NULL;
	char *pub, *c = NULL;
	json_t *a = json_array(), *o;
	size_t i;
	int len;

	for (i = 0; algs[i]; i++)
		json_array_append_new(a, json_string(algs[i]));
	len = i2d_PUBKEY(pk, &der);
	pub = b64_of_der(len, der);
	if (cert) {
		der = NULL;
		len = i2d_X509(cert, &der);
		c = b64_of_der(len, der);
	}
	o = json_pack("{sIsssssssisossssss?}", "seq", (json_int_t)seq, "request_id",
		      "00112233445566778899aabbccddeeff", "label", label, "policy", "test",
		      "key_id", (int)seq, "algorithms", a, "key_type", type, "public_key", pub,
		      "certificate", c);
	ck_assert_ptr_nonnull(o);
	free(pub);
	free(c);
	return o;
}

static json_t *fake_list(void)
{
	static const char *ec_algs[] = {"ecdsa-sha256", "ecdsa", NULL};
	static const char *card_algs[] = {"ecdsa-sha256", NULL};
	static const char *rsa_algs[] = {"rsa-pkcs1-sha256", "rsa-pss-sha256", NULL};
	json_t *keys = json_array();

	json_array_append_new(keys, key_entry(7, "apk-demo", fk.ec, "ec", ec_algs, fk.cert));
	json_array_append_new(
	    keys, key_entry(9, "card-hash-only", fk.ec_card_only, "ec", card_algs, NULL));
	json_array_append_new(keys, key_entry(12, "firmware", fk.rsa, "rsa", rsa_algs, NULL));
	/* a daemon that listed its archive key: the module must still hide it */
	json_array_append_new(keys,
			      key_entry(1, "smkeyd-archive", fk.ec_card_only, "ec", ec_algs, NULL));
	json_array_append_new(keys, key_entry(2, "renamed", fk.ec_card_only, "ec", ec_algs, NULL));
	json_object_set_new(json_array_get(keys, 4), "policy", json_string("smkeyd-archive-key"));
	if (fk.mode == FAKE_BAD_KEY)
		json_object_set_new(json_array_get(keys, 0), "public_key", json_string("AAAA"));
	return json_pack("{so}", "keys", keys);
}

static EVP_PKEY *fake_key_of(long long seq)
{
	return seq == 7 ? fk.ec : seq == 9 ? fk.ec_card_only : seq == 12 ? fk.rsa : NULL;
}

/* Sign as the card would: ECDSA in DER, RSA raw. */
static int fake_sign(EVP_PKEY *pk, const char *alg, const smk_buf *in, smk_buf *sig)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	size_t n = 0;
	int ok, data = strcmp(alg, "ecdsa") && strcmp(alg, "rsa-pkcs1") && strcmp(alg, "rsa-pss");

	if (data) {
		ok = EVP_DigestSignInit(md, &pc, EVP_sha256(), NULL, pk) == 1;
		if (ok && strcmp(alg, "rsa-pss-sha256") == 0)
			ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
			     EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) == 1;
		ok = ok && EVP_DigestSign(md, NULL, &n, in->data, in->len) == 1 &&
		     smk_buf_reserve(sig, n) == 0 &&
		     EVP_DigestSign(md, sig->data, &n, in->data, in->len) == 1;
	} else {
		pc = EVP_PKEY_CTX_new(pk, NULL);
		ok = pc && EVP_PKEY_sign_init(pc) == 1;
		if (ok && strcmp(alg, "rsa-pss") == 0)
			ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
			     EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1;
		ok = ok && EVP_PKEY_sign(pc, NULL, &n, in->data, in->len) == 1 &&
		     smk_buf_reserve(sig, n) == 0 &&
		     EVP_PKEY_sign(pc, sig->data, &n, in->data, in->len) == 1;
		EVP_PKEY_CTX_free(pc);
	}
	EVP_MD_CTX_free(md);
	sig->len = ok ? n : 0;
	return ok ? 0 : -1;
}

static void fake_reply(int fd, const char *error, json_t *params)
{
	smk_buf out = SMK_BUF_INIT;
	smk_err e;

	if (error)
		ck_assert_int_eq(varlink_error_encode(&out, error, params, &e), 0);
	else
		ck_assert_int_eq(varlink_reply_encode(&out, params, 0, &e), 0);
	ck_assert_int_eq(write(fd, out.data, out.len), (ssize_t)out.len);
	smk_buf_free(&out);
	json_decref(params);
}

static void fake_call(int fd, varlink_call *c)
{
	const char *alg = json_string_value(json_object_get(c->params, "algorithm"));
	json_t *data = json_object_get(c->params, "data");
	json_t *digest = json_object_get(c->params, "digest");
	long long seq = json_integer_value(json_object_get(c->params, "seq"));
	smk_buf sig = SMK_BUF_INIT;
	char *s;
	smk_err e;

	if (strcmp(c->method, "io.smkeyd.ListSigningKeys") == 0) {
		fake_reply(fd, NULL, fake_list());
		return;
	}
	ck_assert_str_eq(c->method, "io.smkeyd.Sign");
	ck_assert_ptr_nonnull(alg);
	ck_assert((data != NULL) != (digest != NULL));
	pthread_mutex_lock(&fk.mu);
	fk.signs++;
	snprintf(fk.alg, sizeof(fk.alg), "%s", alg);
	fk.had_digest = digest != NULL;
	smk_buf_reset(&fk.input);
	s = (char *)json_string_value(data ? data : digest);
	ck_assert_int_eq(smk_b64_decode(s, strlen(s), &fk.input, "input", &e), 0);
	if (fk.mode == FAKE_DENY) {
		pthread_mutex_unlock(&fk.mu);
		fake_reply(fd, "io.smkeyd.PolicyDenied",
			   json_pack("{ssss}", "policy", "test", "reason",
				     "uid 1000 is in no sign: rule"));
		return;
	}
	if (fk.mode == FAKE_NOT_FOUND || fk.mode == FAKE_UNAVAILABLE) {
		pthread_mutex_unlock(&fk.mu);
		fake_reply(fd,
			   fk.mode == FAKE_NOT_FOUND ? "io.smkeyd.RecordNotFound"
						     : "io.smkeyd.DeviceUnavailable",
			   json_pack("{ss}", "reason", "gone"));
		return;
	}
	ck_assert_int_eq(fake_sign(fake_key_of(seq), alg, &fk.input, &sig), 0);
	pthread_mutex_unlock(&fk.mu);
	s = smk_b64(sig.data, sig.len);
	fake_reply(fd, NULL, json_pack("{ssss}", "signature", s, "algorithm", alg));
	free(s);
	smk_buf_free(&sig);
}

static void *fake_serve(void *arg)
{
	char chunk[65536];
	varlink_reader rd;
	varlink_call call;
	json_t *msg;
	smk_err e;
	ssize_t n;
	int fd;

	(void)arg;
	for (;;) {
		fd = accept(fk.lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		varlink_reader_init(&rd, 1u << 20);
		while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
			ck_assert_int_eq(varlink_reader_feed(&rd, chunk, (size_t)n, &e), 0);
			while (varlink_reader_next(&rd, &msg, &e) == 1) {
				ck_assert_int_eq(varlink_call_decode(msg, &call, &e), 0);
				fake_call(fd, &call);
				varlink_call_clear(&call);
				json_decref(msg);
			}
		}
		varlink_reader_free(&rd);
		close(fd);
	}
}

static X509 *self_signed(EVP_PKEY *pk)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"apk-demo", -1, -1,
				   0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pk);
	ck_assert_int_gt(X509_sign(x, pk, EVP_sha256()), 0);
	X509_NAME_free(n);
	return x;
}

static void fake_start(void)
{
	struct sockaddr_un sa;

	tu_temp_dir(fk.dir, sizeof(fk.dir), "fake-smkeyd");
	snprintf(fk.path, sizeof(fk.path), "%s/fake.sock", fk.dir);
	fk.ec = tu_keygen("P-256");
	fk.ec_card_only = tu_keygen("P-256");
	fk.rsa = tu_keygen("RSA");
	fk.cert = self_signed(fk.ec);
	fk.mode = FAKE_OK;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, fk.path, strlen(fk.path) + 1);
	fk.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(fk.lfd, 0);
	ck_assert_int_eq(bind(fk.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fk.lfd, 64), 0);
	ck_assert_int_eq(pthread_create(&fk.thread, NULL, fake_serve, NULL), 0);
	setenv("SMKEYD_SOCKET", fk.path, 1);
}

static void fake_stop(void)
{
	unlink(fk.path);
	rmdir(fk.dir);
}

/* ---- the module as an application sees it ---- */

static CK_FUNCTION_LIST *p11;
static void *module;

static void load(CK_C_INITIALIZE_ARGS *args)
{
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);

	fake_start();
	module = dlopen(MODULE, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(module != NULL, "dlopen %s: %s", MODULE, dlerror());
	*(void **)&get = dlsym(module, "C_GetFunctionList");
	ck_assert_ptr_nonnull(get);
	ck_assert_uint_eq(get(&p11), CKR_OK);
	ck_assert_uint_eq(p11->version.major, 2);
	ck_assert_uint_eq(p11->C_Initialize(args), CKR_OK);
}

static void setup(void)
{
	CK_C_INITIALIZE_ARGS a = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};

	load(&a);
}

static void teardown(void)
{
	ck_assert_uint_eq(p11->C_Finalize(NULL), CKR_OK);
	fake_stop();
}

static CK_SESSION_HANDLE open_session(void)
{
	CK_SESSION_HANDLE s;

	ck_assert_uint_eq(p11->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	return s;
}

/* The objects matching class (and label, when given). */
static CK_ULONG find(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *label,
		     CK_OBJECT_HANDLE *out, CK_ULONG max)
{
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
			    {CKA_LABEL, (void *)label, label ? strlen(label) : 0}};
	CK_ULONG n = 0;

	ck_assert_uint_eq(p11->C_FindObjectsInit(s, t, label ? 2 : 1), CKR_OK);
	ck_assert_uint_eq(p11->C_FindObjects(s, out, max, &n), CKR_OK);
	ck_assert_uint_eq(p11->C_FindObjectsFinal(s), CKR_OK);
	return n;
}

static CK_OBJECT_HANDLE find_one(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *label)
{
	CK_OBJECT_HANDLE h[4];

	ck_assert_uint_eq(find(s, cls, label, h, 4), 1);
	return h[0];
}

static void get_attr(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE t, smk_buf *out)
{
	CK_ATTRIBUTE a = {t, NULL, 0};

	smk_buf_reset(out);
	ck_assert_uint_eq(p11->C_GetAttributeValue(s, h, &a, 1), CKR_OK);
	ck_assert_int_eq(smk_buf_reserve(out, a.ulValueLen + 1), 0);
	a.pValue = out->data;
	ck_assert_uint_eq(p11->C_GetAttributeValue(s, h, &a, 1), CKR_OK);
	out->len = a.ulValueLen;
}

static CK_BBOOL get_bool(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE t)
{
	CK_BBOOL v = 7;
	CK_ATTRIBUTE a = {t, &v, sizeof(v)};

	ck_assert_uint_eq(p11->C_GetAttributeValue(s, h, &a, 1), CKR_OK);
	return v;
}

/* The signature the module returned verifies with pk over msg (ECDSA:
 * r||s; PSS with a 32-byte salt when pss). */
static int verifies(EVP_PKEY *pk, const uint8_t *sig, size_t n, const void *msg, size_t len,
		    int pss)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	unsigned char *der = NULL;
	const unsigned char *vs = sig;
	size_t vn = n;
	int ok;

	if (EVP_PKEY_is_a(pk, "EC")) {
		ECDSA_SIG *es = ECDSA_SIG_new();

		ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)n / 2, NULL),
			       BN_bin2bn(sig + n / 2, (int)n / 2, NULL));
		vn = (size_t)i2d_ECDSA_SIG(es, &der);
		vs = der;
		ECDSA_SIG_free(es);
	}
	ok = EVP_DigestVerifyInit(md, &pc, EVP_sha256(), NULL, pk) == 1;
	if (ok && pss)
		ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 32) == 1;
	ok = ok && EVP_DigestVerify(md, vs, vn, msg, len) == 1;
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	return ok;
}

static CK_RV sign(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, CK_MECHANISM *m, const void *in,
		  size_t n, uint8_t *sig, CK_ULONG *siglen)
{
	CK_RV rv = p11->C_SignInit(s, m, key);

	if (rv != CKR_OK)
		return rv;
	return p11->C_Sign(s, (CK_BYTE_PTR)in, n, sig, siglen);
}

START_TEST(objects_pair_and_hide_the_private_key)
{
	CK_SESSION_HANDLE s = open_session();
	CK_OBJECT_HANDLE all[16], priv, pub, cert;
	smk_buf a = SMK_BUF_INIT, b = SMK_BUF_INIT;
	unsigned char *der = NULL;
	CK_BYTE v[8];
	CK_ATTRIBUTE value = {CKA_VALUE, v, sizeof(v)};
	CK_ULONG n = 0;
	int len;

	/* apk-demo: three objects; card-hash-only and firmware: two each; the
	 * archive key none */
	ck_assert_uint_eq(p11->C_FindObjectsInit(s, NULL, 0), CKR_OK);
	ck_assert_uint_eq(p11->C_FindObjects(s, all, 16, &n), CKR_OK);
	ck_assert_uint_eq(p11->C_FindObjectsFinal(s), CKR_OK);
	ck_assert_uint_eq(n, 7);
	ck_assert_uint_eq(find(s, CKO_PRIVATE_KEY, "smkeyd-archive", all, 16), 0);
	ck_assert_uint_eq(find(s, CKO_PUBLIC_KEY, "smkeyd-archive", all, 16), 0);

	priv = find_one(s, CKO_PRIVATE_KEY, "apk-demo");
	pub = find_one(s, CKO_PUBLIC_KEY, "apk-demo");
	cert = find_one(s, CKO_CERTIFICATE, "apk-demo");
	get_attr(s, priv, CKA_ID, &a);
	ck_assert_uint_eq(a.len, 20);
	get_attr(s, pub, CKA_ID, &b);
	ck_assert_mem_eq(a.data, b.data, 20);
	get_attr(s, cert, CKA_ID, &b);
	ck_assert_mem_eq(a.data, b.data, 20);

	ck_assert_uint_eq(get_bool(s, priv, CKA_SIGN), CK_TRUE);
	ck_assert_uint_eq(get_bool(s, priv, CKA_SENSITIVE), CK_TRUE);
	ck_assert_uint_eq(get_bool(s, priv, CKA_EXTRACTABLE), CK_FALSE);
	ck_assert_uint_eq(get_bool(s, priv, CKA_PRIVATE), CK_FALSE);
	ck_assert_uint_eq(p11->C_GetAttributeValue(s, priv, &value, 1), CKR_ATTRIBUTE_SENSITIVE);
	ck_assert_uint_eq(value.ulValueLen, CK_UNAVAILABLE_INFORMATION);

	/* the certificate is the imported one, the public key the key's */
	get_attr(s, cert, CKA_VALUE, &a);
	len = i2d_X509(fk.cert, &der);
	ck_assert_uint_eq(a.len, (size_t)len);
	ck_assert_mem_eq(a.data, der, a.len);
	OPENSSL_free(der);
	der = NULL;
	get_attr(s, pub, CKA_PUBLIC_KEY_INFO, &a);
	len = i2d_PUBKEY(fk.ec, &der);
	ck_assert_uint_eq(a.len, (size_t)len);
	ck_assert_mem_eq(a.data, der, a.len);
	OPENSSL_free(der);
	/* P-256's OID, and the point as an OCTET STRING of 65 bytes */
	get_attr(s, pub, CKA_EC_PARAMS, &a);
	tu_assert_hex(a.data, a.len, "06082a8648ce3d030107");
	get_attr(s, priv, CKA_EC_POINT, &a);
	ck_assert_uint_eq(a.len, 67);
	ck_assert_uint_eq(a.data[0], 0x04);
	ck_assert_uint_eq(a.data[2], 0x04);
	get_attr(s, find_one(s, CKO_PUBLIC_KEY, "firmware"), CKA_MODULUS, &a);
	ck_assert_uint_eq(a.len, 256);
	smk_buf_free(&a);
	smk_buf_free(&b);
}
END_TEST

START_TEST(ecdsa_sha256_sends_the_message)
{
	CK_SESSION_HANDLE s = open_session();
	CK_OBJECT_HANDLE k = find_one(s, CKO_PRIVATE_KEY, "apk-demo");
	CK_MECHANISM m = {CKM_ECDSA_SHA256, NULL, 0};
	static const char msg[] = "classes.dex digest of release 1.2";
	uint8_t sig[64];
	CK_ULONG n = 0;

	/* a length query and a short buffer keep the operation */
	ck_assert_uint_eq(p11->C_SignInit(s, &m, k), CKR_OK);
	ck_assert_uint_eq(p11->C_Sign(s, (CK_BYTE_PTR)msg, strlen(msg), NULL, &n), CKR_OK);
	ck_assert_uint_eq(n, 64);
	n = 10;
	ck_assert_uint_eq(p11->C_Sign(s, (CK_BYTE_PTR)msg, strlen(msg), sig, &n),
			  CKR_BUFFER_TOO_SMALL);
	ck_assert_int_eq(fk.signs, 0);
	n = sizeof(sig);
	ck_assert_uint_eq(p11->C_Sign(s, (CK_BYTE_PTR)msg, strlen(msg), sig, &n), CKR_OK);
	ck_assert_uint_eq(n, 64);
	ck_assert_int_eq(fk.signs, 1);
	ck_assert_str_eq(fk.alg, "ecdsa-sha256");
	ck_assert_int_eq(fk.had_digest, 0);
	ck_assert_uint_eq(fk.input.len, strlen(msg));
	ck_assert(verifies(fk.ec, sig, n, msg, strlen(msg), 0));
	/* the operation ended */
	ck_assert_uint_eq(p11->C_Sign(s, (CK_BYTE_PTR)msg, 1, sig, &n),
			  CKR_OPERATION_NOT_INITIALIZED);
}
END_TEST

START_TEST(ecdsa_signs_the_hosts_hash)
{
	CK_SESSION_HANDLE s = open_session();
	CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
	static const char msg[] = "META-INF/CERT.SF";
	uint8_t h[32], sig[64];
	CK_ULONG n = sizeof(sig);

	SHA256((const unsigned char *)msg, strlen(msg), h);
	ck_assert_uint_eq(sign(s, find_one(s, CKO_PRIVATE_KEY, "apk-demo"), &m, h, 32, sig, &n),
			  CKR_OK);
	ck_assert_str_eq(fk.alg, "ecdsa");
	ck_assert_int_eq(fk.had_digest, 1);
	ck_assert(verifies(fk.ec, sig, n, msg, strlen(msg), 0));
	/* a key whose list holds ecdsa-sha256 alone cannot sign a host hash */
	n = sizeof(sig);
	ck_assert_uint_eq(
	    sign(s, find_one(s, CKO_PRIVATE_KEY, "card-hash-only"), &m, h, 32, sig, &n),
	    CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_int_eq(fk.signs, 1);
}
END_TEST

/* A v1 .SF of 100 KiB: too large to send, so hashed here when the key
 * lists ecdsa; refused, with nothing sent, when it does not. */
START_TEST(large_message_multipart)
{
	CK_SESSION_HANDLE s = open_session();
	CK_MECHANISM m = {CKM_ECDSA_SHA256, NULL, 0};
	size_t len = 100 * 1024, off;
	uint8_t *msg = malloc(len), sig[64], h[32];
	CK_ULONG n = sizeof(sig);

	for (off = 0; off < len; off++)
		msg[off] = (uint8_t)("Name: res/drawable/icon.png\r\n"[off % 29]);
	ck_assert_uint_eq(p11->C_SignInit(s, &m, find_one(s, CKO_PRIVATE_KEY, "apk-demo")), CKR_OK);
	for (off = 0; off < len; off += 4096)
		ck_assert_uint_eq(
		    p11->C_SignUpdate(s, msg + off, len - off < 4096 ? len - off : 4096), CKR_OK);
	ck_assert_uint_eq(p11->C_SignFinal(s, sig, &n), CKR_OK);
	ck_assert_str_eq(fk.alg, "ecdsa");
	ck_assert_int_eq(fk.had_digest, 1);
	SHA256(msg, len, h);
	ck_assert_uint_eq(fk.input.len, 32);
	ck_assert_mem_eq(fk.input.data, h, 32);
	ck_assert(verifies(fk.ec, sig, n, msg, len, 0));

	/* small multi-part messages still go as they are */
	ck_assert_uint_eq(p11->C_SignInit(s, &m, find_one(s, CKO_PRIVATE_KEY, "apk-demo")), CKR_OK);
	ck_assert_uint_eq(p11->C_SignUpdate(s, msg, 1000), CKR_OK);
	ck_assert_uint_eq(p11->C_SignUpdate(s, msg + 1000, 1000), CKR_OK);
	n = sizeof(sig);
	ck_assert_uint_eq(p11->C_SignFinal(s, sig, &n), CKR_OK);
	ck_assert_str_eq(fk.alg, "ecdsa-sha256");
	ck_assert_uint_eq(fk.input.len, 2000);
	ck_assert(verifies(fk.ec, sig, n, msg, 2000, 0));

	ck_assert_uint_eq(p11->C_SignInit(s, &m, find_one(s, CKO_PRIVATE_KEY, "card-hash-only")),
			  CKR_OK);
	ck_assert_uint_eq(p11->C_SignUpdate(s, msg, len), CKR_OK);
	n = sizeof(sig);
	ck_assert_uint_eq(p11->C_SignFinal(s, sig, &n), CKR_DATA_LEN_RANGE);
	ck_assert_int_eq(fk.signs, 2);
	free(msg);
}
END_TEST

START_TEST(rsa_mechanisms)
{
	CK_SESSION_HANDLE s = open_session();
	CK_OBJECT_HANDLE k = find_one(s, CKO_PRIVATE_KEY, "firmware");
	CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 32}, bad = pss;
	CK_MECHANISM pkcs = {CKM_SHA256_RSA_PKCS, NULL, 0};
	CK_MECHANISM mp = {CKM_SHA256_RSA_PKCS_PSS, &pss, sizeof(pss)};
	CK_MECHANISM mbad = {CKM_SHA256_RSA_PKCS_PSS, &bad, sizeof(bad)};
	CK_MECHANISM raw = {CKM_RSA_PKCS, NULL, 0};
	CK_MECHANISM ec = {CKM_ECDSA_SHA256, NULL, 0};
	static const char msg[] = "firmware image 4.1";
	uint8_t sig[256];
	CK_ULONG n = sizeof(sig);

	ck_assert_uint_eq(sign(s, k, &pkcs, msg, strlen(msg), sig, &n), CKR_OK);
	ck_assert_uint_eq(n, 256);
	ck_assert_str_eq(fk.alg, "rsa-pkcs1-sha256");
	ck_assert(verifies(fk.rsa, sig, n, msg, strlen(msg), 0));
	n = sizeof(sig);
	ck_assert_uint_eq(sign(s, k, &mp, msg, strlen(msg), sig, &n), CKR_OK);
	ck_assert_str_eq(fk.alg, "rsa-pss-sha256");
	ck_assert(verifies(fk.rsa, sig, n, msg, strlen(msg), 1));
	bad.sLen = 20;
	ck_assert_uint_eq(p11->C_SignInit(s, &mbad, k), CKR_MECHANISM_PARAM_INVALID);
	/* not in the key's list, or not for its type */
	ck_assert_uint_eq(p11->C_SignInit(s, &raw, k), CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_uint_eq(p11->C_SignInit(s, &ec, k), CKR_KEY_TYPE_INCONSISTENT);
	/* a public key or certificate does not sign */
	ck_assert_uint_eq(p11->C_SignInit(s, &pkcs, find_one(s, CKO_PUBLIC_KEY, "firmware")),
			  CKR_KEY_HANDLE_INVALID);
	ck_assert_int_eq(fk.signs, 2);
}
END_TEST

START_TEST(daemon_errors)
{
	CK_SESSION_HANDLE s = open_session();
	CK_OBJECT_HANDLE k = find_one(s, CKO_PRIVATE_KEY, "apk-demo");
	CK_MECHANISM m = {CKM_ECDSA_SHA256, NULL, 0};
	uint8_t sig[64];
	CK_ULONG n = sizeof(sig);

	fk.mode = FAKE_DENY;
	ck_assert_uint_eq(sign(s, k, &m, "x", 1, sig, &n), CKR_FUNCTION_REJECTED);
	fk.mode = FAKE_NOT_FOUND;
	ck_assert_uint_eq(sign(s, k, &m, "x", 1, sig, &n), CKR_KEY_HANDLE_INVALID);
	fk.mode = FAKE_UNAVAILABLE;
	ck_assert_uint_eq(sign(s, k, &m, "x", 1, sig, &n), CKR_DEVICE_ERROR);
	/* a public key that is no key: the list is refused whole */
	fk.mode = FAKE_BAD_KEY;
	ck_assert_uint_eq(p11->C_FindObjectsInit(s, NULL, 0), CKR_DEVICE_ERROR);
	fk.mode = FAKE_OK;
	/* no daemon on the socket */
	setenv("SMKEYD_SOCKET", "/nonexistent/smkeyd.sock", 1);
	ck_assert_uint_eq(sign(s, k, &m, "x", 1, sig, &n), CKR_DEVICE_ERROR);
	ck_assert_uint_eq(p11->C_FindObjectsInit(s, NULL, 0), CKR_DEVICE_ERROR);
}
END_TEST

START_TEST(any_pin_logs_in)
{
	CK_SESSION_HANDLE s = open_session();
	CK_SESSION_INFO si;
	CK_TOKEN_INFO ti;

	ck_assert_uint_eq(p11->C_GetTokenInfo(0, &ti), CKR_OK);
	ck_assert_uint_eq(ti.flags & CKF_LOGIN_REQUIRED, 0);
	ck_assert_uint_eq(p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "whatever", 8), CKR_OK);
	ck_assert_uint_eq(p11->C_GetSessionInfo(s, &si), CKR_OK);
	ck_assert_uint_eq(si.state, CKS_RO_USER_FUNCTIONS);
	ck_assert_uint_eq(p11->C_Login(s, CKU_USER, NULL, 0), CKR_USER_ALREADY_LOGGED_IN);
	ck_assert_uint_eq(p11->C_Login(s, CKU_SO, NULL, 0), CKR_USER_TYPE_INVALID);
	ck_assert_uint_eq(p11->C_Logout(s), CKR_OK);
	ck_assert_uint_eq(p11->C_Login(s, CKU_USER, NULL, 0), CKR_OK);
	ck_assert_uint_eq(p11->C_CloseSession(s), CKR_OK);
	ck_assert_uint_eq(p11->C_GetSessionInfo(s, &si), CKR_SESSION_HANDLE_INVALID);
}
END_TEST

/* ---- threads ---- */

static int locks;

static CK_RV app_create(void **m)
{
	*m = calloc(1, sizeof(pthread_mutex_t));
	return *m && pthread_mutex_init(*m, NULL) == 0 ? CKR_OK : CKR_HOST_MEMORY;
}

static CK_RV app_destroy(void *m)
{
	pthread_mutex_destroy(m);
	free(m);
	return CKR_OK;
}

static CK_RV app_lock(void *m)
{
	pthread_mutex_lock(m);
	locks++;
	return CKR_OK;
}

static CK_RV app_unlock(void *m)
{
	pthread_mutex_unlock(m);
	return CKR_OK;
}

/* One thread's work: its number in, the signatures that verified out. */
typedef struct signer_job {
	int n;
	int ok;
} signer_job;

static void *signer_thread(void *arg)
{
	signer_job *job = arg;
	CK_SESSION_HANDLE s = open_session();
	CK_OBJECT_HANDLE k = find_one(s, CKO_PRIVATE_KEY, "apk-demo");
	CK_MECHANISM m = {CKM_ECDSA_SHA256, NULL, 0};
	char msg[64];
	uint8_t sig[64];
	CK_ULONG n;
	int i;

	for (i = 0; i < 10; i++) {
		snprintf(msg, sizeof(msg), "thread %d message %d", job->n, i);
		n = sizeof(sig);
		if (sign(s, k, &m, msg, strlen(msg), sig, &n) == CKR_OK &&
		    verifies(fk.ec, sig, n, msg, strlen(msg), 0))
			job->ok++;
	}
	p11->C_CloseSession(s);
	return NULL;
}

static void threads_sign(void)
{
	signer_job jobs[4];
	pthread_t t[4];
	int i;

	for (i = 0; i < 4; i++) {
		jobs[i].n = i;
		jobs[i].ok = 0;
		ck_assert_int_eq(pthread_create(&t[i], NULL, signer_thread, &jobs[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(jobs[i].ok, 10);
	}
	ck_assert_int_eq(fk.signs, 40);
}

START_TEST(threads_with_os_locking)
{
	threads_sign();
}
END_TEST

START_TEST(threads_with_the_applications_mutexes)
{
	CK_C_INITIALIZE_ARGS a = {app_create, app_destroy, app_lock, app_unlock, 0, NULL};

	ck_assert_uint_eq(p11->C_Finalize(NULL), CKR_OK);
	ck_assert_uint_eq(p11->C_Initialize(&a), CKR_OK);
	threads_sign();
	ck_assert_int_gt(locks, 40);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pkcs11");
	TCase *tc = tcase_create("module");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, objects_pair_and_hide_the_private_key);
	tcase_add_test(tc, ecdsa_sha256_sends_the_message);
	tcase_add_test(tc, ecdsa_signs_the_hosts_hash);
	tcase_add_test(tc, large_message_multipart);
	tcase_add_test(tc, rsa_mechanisms);
	tcase_add_test(tc, daemon_errors);
	tcase_add_test(tc, any_pin_logs_in);
	tcase_add_test(tc, threads_with_os_locking);
	tcase_add_test(tc, threads_with_the_applications_mutexes);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
