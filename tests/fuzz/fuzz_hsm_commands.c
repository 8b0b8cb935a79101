/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The card-side command parsers of sm/hsm.h, which the simulator runs on
 * whatever a host sends. The first input byte picks the parser, the rest is
 * the command data:
 *  0  GENERATE ASYMMETRIC KEY PAIR: hsm_parse_gakp_data; what parses is
 *     encoded again with hsm_encode_gakp_data and must parse to the same
 *     key specification
 *  1  READ BINARY: hsm_parse_read_binary_cmd
 *  2  UPDATE BINARY: hsm_parse_update_binary_cmd
 *  3  DELETE FILE: hsm_parse_delete_file_cmd
 *  4  INITIALIZE DEVICE: hsm_parse_initialize_cmd, and back through
 *     hsm_build_initialize
 */
#include "fuzz.h"
#include "sm/hsm.h"

static void same_keyspec(const hsm_keyspec *a, const hsm_keyspec *b)
{
	FZ_CHECK(a->type == b->type && a->curve == b->curve);
	FZ_CHECK(a->rsa_bits == b->rsa_bits && a->rsa_legacy_ok == b->rsa_legacy_ok);
	FZ_CHECK(memcmp(a->oid, b->oid, sizeof(a->oid)) == 0);
	FZ_CHECK(strcmp(a->car, b->car) == 0 && strcmp(a->chr, b->chr) == 0);
	FZ_CHECK(strcmp(a->outer_car, b->outer_car) == 0);
	FZ_CHECK(a->use_counter == b->use_counter);
	FZ_CHECK(a->alg_count == b->alg_count && memcmp(a->algs, b->algs, a->alg_count) == 0);
	FZ_CHECK(a->has_key_domain == b->has_key_domain && a->key_domain == b->key_domain);
}

static void gakp(const uint8_t *p, size_t n)
{
	smk_buf again = SMK_BUF_INIT;
	hsm_keyspec k, k2;
	smk_err e;

	if (hsm_parse_gakp_data(p, n, &k, &e) < 0)
		return;
	FZ_CHECK(k.type == SMK_KEY_EC || k.type == SMK_KEY_RSA);
	FZ_CHECK((k.type == SMK_KEY_EC) == (k.curve != NULL));
	FZ_CHECK(k.alg_count <= SMK_ALG_LIST_MAX && k.chr[0] != '\0');
	FZ_CHECK(hsm_encode_gakp_data(&again, &k, &e) == 0);
	FZ_CHECK(hsm_parse_gakp_data(again.data, again.len, &k2, &e) == 0);
	same_keyspec(&k, &k2);
	smk_buf_free(&again);
}

static void read_binary(const uint8_t *p, size_t n)
{
	size_t off;
	smk_err e;

	if (hsm_parse_read_binary_cmd(p, n, &off, &e) == 0)
		FZ_CHECK(off <= 0xFFFF);
}

static void update_binary(const uint8_t *p, size_t n)
{
	const uint8_t *content;
	size_t off, len;
	smk_err e;

	if (hsm_parse_update_binary_cmd(p, n, &off, &content, &len, &e) == 0) {
		FZ_CHECK(off <= 0xFFFF && len < n);
		FZ_CHECK(content >= p && content + len == p + n);
	}
}

static void delete_file(const uint8_t *p, size_t n)
{
	uint16_t fid;
	smk_err e;

	if (hsm_parse_delete_file_cmd(p, n, &fid, &e) == 0)
		FZ_CHECK(n == 2 && fid == (p[0] << 8 | p[1]));
}

static void initialize(const uint8_t *p, size_t n)
{
	smk_buf again = SMK_BUF_INIT;
	hsm_init_params a, b;
	apdu cmd;
	smk_err e;

	if (hsm_parse_initialize_cmd(p, n, &a, &e) < 0)
		return;
	FZ_CHECK(a.pin != NULL && a.so_pin != NULL);
	FZ_CHECK(a.pin_len >= HSM_PIN_MIN && a.pin_len <= HSM_PIN_MAX);
	FZ_CHECK(hsm_build_initialize(&cmd, &again, &a, &e) == 0);
	FZ_CHECK(again.secret);
	FZ_CHECK(hsm_parse_initialize_cmd(cmd.data, cmd.lc, &b, &e) == 0);
	FZ_CHECK(a.options == b.options && a.retry_counter == b.retry_counter);
	FZ_CHECK(a.pin_len == b.pin_len && memcmp(a.pin, b.pin, a.pin_len) == 0);
	FZ_CHECK(memcmp(a.so_pin, b.so_pin, HSM_SOPIN_LEN) == 0);
	FZ_CHECK(a.has_dkek_shares == b.has_dkek_shares && a.dkek_shares == b.dkek_shares);
	FZ_CHECK(a.key_domains == b.key_domains);
	smk_buf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_in in = {data, size};
	uint8_t which = fz_u8(&in);
	uint8_t *p = fz_dup(in.p, in.n);

	switch (which % 5) {
	case 0:
		gakp(p, in.n);
		break;
	case 1:
		read_binary(p, in.n);
		break;
	case 2:
		update_binary(p, in.n);
		break;
	case 3:
		delete_file(p, in.n);
		break;
	default:
		initialize(p, in.n);
		break;
	}
	free(p);
	return 0;
}
