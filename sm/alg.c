/* SPDX-License-Identifier: BSD-3-Clause */
#include "alg.h"

#include <string.h>

#include "../common/names.h"

#define ANY (SMK_KEY_RSA | SMK_KEY_EC | SMK_KEY_AES)

static const smk_alg algs[] = {
    {"aes-cbc-encrypt", 0x10, SMK_KEY_AES, "AES-CBC encryption"},
    {"aes-cbc-decrypt", 0x11, SMK_KEY_AES, "AES-CBC decryption"},
    {"aes-cmac", 0x18, SMK_KEY_AES, "AES-CMAC"},
    {"rsa-raw", 0x20, SMK_KEY_RSA, "RSA signature over a block padded by the host"},
    {"rsa-decrypt-raw", 0x21, SMK_KEY_RSA, "RSA raw decryption"},
    {"rsa-decrypt-pkcs1", 0x22, SMK_KEY_RSA, "RSA PKCS#1 v1.5 decryption"},
    {"rsa-decrypt-oaep", 0x23, SMK_KEY_RSA, "RSA OAEP decryption"},
    {"rsa-pkcs1", 0x30, SMK_KEY_RSA, "RSA PKCS#1 v1.5 signature, DigestInfo from the host"},
    {"rsa-pkcs1-sha1", 0x31, SMK_KEY_RSA, "RSA PKCS#1 v1.5 signature, card hashes with SHA-1"},
    {"rsa-pkcs1-sha224", 0x32, SMK_KEY_RSA, "RSA PKCS#1 v1.5 signature, card hashes with SHA-224"},
    {"rsa-pkcs1-sha256", 0x33, SMK_KEY_RSA, "RSA PKCS#1 v1.5 signature, card hashes with SHA-256"},
    {"rsa-pkcs1-sha384", 0x34, SMK_KEY_RSA, "RSA PKCS#1 v1.5 signature, card hashes with SHA-384"},
    {"rsa-pkcs1-sha512", 0x35, SMK_KEY_RSA, "RSA PKCS#1 v1.5 signature, card hashes with SHA-512"},
    {"rsa-pss", 0x40, SMK_KEY_RSA, "RSA-PSS signature over a hash from the host"},
    {"rsa-pss-sha1", 0x41, SMK_KEY_RSA, "RSA-PSS signature, card hashes with SHA-1"},
    {"rsa-pss-sha224", 0x42, SMK_KEY_RSA, "RSA-PSS signature, card hashes with SHA-224"},
    {"rsa-pss-sha256", 0x43, SMK_KEY_RSA, "RSA-PSS signature, card hashes with SHA-256"},
    {"rsa-pss-sha384", 0x44, SMK_KEY_RSA, "RSA-PSS signature, card hashes with SHA-384"},
    {"rsa-pss-sha512", 0x45, SMK_KEY_RSA, "RSA-PSS signature, card hashes with SHA-512"},
    {"ecdsa", 0x70, SMK_KEY_EC,
     "ECDSA over a hash from the host (PKCS#11 CKM_ECDSA; what OpenSC sends)"},
    {"ecdsa-sha1", 0x71, SMK_KEY_EC, "ECDSA, card hashes with SHA-1"},
    {"ecdsa-sha224", 0x72, SMK_KEY_EC, "ECDSA, card hashes with SHA-224"},
    {"ecdsa-sha256", 0x73, SMK_KEY_EC, "ECDSA, card hashes with SHA-256"},
    {"ecdsa-sha384", 0x74, SMK_KEY_EC, "ECDSA, card hashes with SHA-384"},
    {"ecdsa-sha512", 0x75, SMK_KEY_EC, "ECDSA, card hashes with SHA-512"},
    {"ecdh", 0x80, SMK_KEY_EC, "ECDH key agreement"},
    {"ecdh-autpuk", 0x83, SMK_KEY_EC, "ECDH with an authenticated public key"},
    {"ecdh-xkek", 0x84, SMK_KEY_EC, "ECDH for XKEK key-domain derivation"},
    {"wrap", 0x92, ANY, "export of the key wrapped under the key domain's DKEK"},
    {"unwrap", 0x93, ANY, "import of a wrapped key"},
    {"derive-ec", 0x98, SMK_KEY_EC, "derive an EC key from this key"},
    {"derive-aes", 0x99, SMK_KEY_AES, "derive an AES key from this key"},
};

const smk_alg *alg_list(size_t *n)
{
	*n = SMK_NELEM(algs);
	return algs;
}

const smk_alg *alg_by_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < SMK_NELEM(algs); i++)
		if (strcmp(algs[i].name, name) == 0)
			return &algs[i];
	return NULL;
}

const smk_alg *alg_by_id(uint8_t id)
{
	size_t i;

	for (i = 0; i < SMK_NELEM(algs); i++)
		if (algs[i].id == id)
			return &algs[i];
	return NULL;
}

int alg_is_signature(uint8_t id)
{
	return id == 0x20 || (id >= 0x30 && id <= 0x35) || (id >= 0x40 && id <= 0x45) ||
	       (id >= 0x70 && id <= 0x75);
}

/* The key types are bits (smk_alg.keytypes is a set of them), so there is
 * no count to check this table against: the values between them are holes
 * that read as "unknown", and tests/unit/test_names.c checks that every
 * type an algorithm names has a name. */
/* clang-format off */
static const char *const keytype_names[] = {
	[SMK_KEY_RSA] = "rsa", [SMK_KEY_EC] = "ec", [SMK_KEY_AES] = "aes",
};
/* clang-format on */

const char *keytype_name(enum smk_keytype t)
{
	return smk_enum_name(keytype_names, SMK_NELEM(keytype_names), t, "unknown");
}
