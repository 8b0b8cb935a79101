/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Log verifier keys (archive/logkey.c), what a relying party pastes into
 * smkey verify --log and the trust directory's logs file. First byte,
 * modulo 3:
 *   0  archive_logkey_parse on the rest: what parses prints as
 *      <name>+<8 lower-case hex>+<base64>, parses again to the same key,
 *      has a name without '+', space or control character, and a key ID
 *      that is SHA-256 of its SPKI; a failure leaves nothing behind
 *   1  archive_logpins_load_file on the rest as a logs file: every pin
 *      found is a key that parses again, and a failure names the file
 *   2  archive_logkey_of on the rest as an archive key's SPKI DER: what
 *      it accepts parses back from its text as the same key, named like a
 *      checkpoint origin (smkeyd/ + 16 hex)
 * Seeds: the Rekor verifier key, an smkeyd one, malformed names, IDs and
 * types, logs files with comments and a bad line, a P-256 SPKI.
 */
#include <unistd.h>

#include <openssl/evp.h>

#include "archive/logkey.h"
#include "fuzz.h"

static void same_again(const archive_logkey *k)
{
	archive_logkey again;
	smk_err e;

	FZ_CHECK(archive_logkey_parse(k->text, strlen(k->text), &again, &e) == 0);
	FZ_CHECK(archive_logkey_same(k, &again));
	FZ_CHECK(strcmp(k->text, again.text) == 0);
}

static void well_formed(const archive_logkey *k)
{
	uint8_t h[32];
	size_t nl = strlen(k->name), i;
	char id[9];

	FZ_CHECK(nl > 0 && nl < sizeof(k->name));
	for (i = 0; i < nl; i++)
		FZ_CHECK(k->name[i] != '+' && k->name[i] != ' ' &&
			 (unsigned char)k->name[i] >= 0x20 && k->name[i] != 0x7f);
	FZ_CHECK(strncmp(k->text, k->name, nl) == 0 && k->text[nl] == '+');
	snprintf(id, sizeof(id), "%08x", (unsigned)k->id);
	FZ_CHECK(strncmp(k->text + nl + 1, id, 8) == 0 && k->text[nl + 9] == '+');
	FZ_CHECK(k->spki_len > 0 && k->spki_len <= sizeof(k->spki));
	FZ_CHECK(EVP_Digest(k->spki, k->spki_len, h, NULL, EVP_sha256(), NULL) == 1);
	FZ_CHECK(k->id ==
		 ((uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3]));
	same_again(k);
}

static void parse(const uint8_t *p, size_t n)
{
	archive_logkey k;
	smk_err e;
	char *s = malloc(n + 1); /* never NULL for n == 0 */

	if (!s)
		fz_die("out of memory", NULL);
	memcpy(s, p, n);
	s[n] = '\0';

	if (archive_logkey_parse(s, n, &k, &e) == 0)
		well_formed(&k);
	else
		FZ_CHECK(e.msg[0] != '\0' && k.name[0] == '\0' && k.text[0] == '\0' &&
			 k.spki_len == 0);
	free(s);
}

static void logs_file(const uint8_t *p, size_t n)
{
	static char path[64];
	archive_logpins pins = ARCHIVE_LOGPINS_INIT;
	smk_err e;
	size_t i;
	FILE *f;
	int rc;

	if (!path[0]) {
		int fd;

		snprintf(path, sizeof(path), "/tmp/fuzz_logkey.XXXXXX");
		fd = mkstemp(path);
		if (fd < 0)
			fz_die("cannot make a temporary logs file", NULL);
		close(fd);
	}
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		fz_die("cannot write the temporary logs file", NULL);
	rc = archive_logpins_load_file(&pins, path, &e);
	FZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0)
		for (i = 0; i < pins.n; i++)
			well_formed(&pins.keys[i]);
	else
		FZ_CHECK(strncmp(e.msg, path, strlen(path)) == 0);
	archive_logpins_free(&pins);
}

static void of_spki(const uint8_t *p, size_t n)
{
	archive_logkey k;
	smk_err e;
	uint8_t *spki = fz_dup(p, n);

	if (archive_logkey_of(spki, n, &k, &e) == 0) {
		FZ_CHECK(strncmp(k.name, "smkeyd/", 7) == 0 && strlen(k.name) == 7 + 16);
		FZ_CHECK(k.spki_len == n && memcmp(k.spki, p, n) == 0);
		well_formed(&k);
	} else {
		FZ_CHECK(e.msg[0] != '\0' && k.text[0] == '\0');
	}
	free(spki);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		parse(data + 1, size - 1);
		break;
	case 1:
		logs_file(data + 1, size - 1);
		break;
	default:
		of_spki(data + 1, size - 1);
		break;
	}
	return 0;
}
