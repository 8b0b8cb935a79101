/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Policies: the shipped examples give the bytes a reviewer expects, every
 * broken file is refused with its line and problem, canonical digests follow
 * meaning rather than formatting, and requests, peers and reloads are
 * decided as docs/policy.md says.
 */
#include <dirent.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/lib/testutil.h"
#include "policy/policy.h"

#define EXAMPLES SMK_SOURCE_DIR "/etc/policies.d"
#define BROKEN "tests/data/policy/broken"

/* ref §6.7: the P-256 public-key template OpenSC sends */
#define P256_TEMPLATE                                                                              \
	"7F4981DA 060A04007F00070202020203"                                                        \
	"8120FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF"                     \
	"8220FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC"                     \
	"83205AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B"                     \
	"8441046B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296"                   \
	"4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5"                         \
	"8520FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"                     \
	"870101"

/* The shipped release-apk.yaml, said differently: flow style, other key
 * order, the curve's alias, a flow-style list, quotes, comments, and the
 * default exportable left out. It means the same and must hash the same. */
static const char apk_reworded[] =
    "# same policy, other layout\n"
    "allow: {groups: [\"adm\"], users: [root]}\n"
    "label: 'apk-{request.label}'\n"
    "algorithms: [\"ecdsa-sha256\", ecdsa]\n"
    "key: {curve: prime256v1, type: ec}\n"
    "description: \"Android APK release signing, one key per app (v2/v3/v4 schemes; v1 within "
    "the card's limits or hashed by smkeyd with ecdsa)\"\n"
    "name: release-apk\n";

static const char apk_base[] = "name: release-apk\n"
			       "description: d\n"
			       "key: {type: ec, curve: secp256r1}\n"
			       "algorithms: [ecdsa-sha256]\n"
			       "label: apk-{request.label}\n"
			       "allow: {users: [root]}\n";

static policy *parse_text(const char *file, const char *text, smk_err *e)
{
	policy *p = NULL;

	if (policy_parse(file, (const uint8_t *)text, strlen(text), &p, e) < 0)
		return NULL;
	return p;
}

static policy *must_parse(const char *file, const char *text)
{
	smk_err e;
	policy *p = parse_text(file, text, &e);

	ck_assert_msg(p != NULL, "%s should load: %s", file, e.msg);
	return p;
}

static policy_set *examples(void)
{
	policy_set *s = NULL;
	smk_err e;

	ck_assert_msg(policy_set_load(EXAMPLES, &s, NULL, NULL, &e) == 0, "%s", e.msg);
	return s;
}

static void gakp_ok(const policy *p, const char *label, const char *chr, uint64_t made,
		    policy_gakp *g)
{
	policy_request req = {label, chr, made};
	smk_err e;

	ck_assert_msg(policy_gakp_params(p, &req, g, &e) == 0, "%s", e.msg);
}

static void gakp_refused_as(const policy *p, const char *label, const char *chr, uint64_t made,
			    enum smk_errc code, const char *why)
{
	policy_request req = {label, chr, made};
	policy_gakp g;
	smk_err e;

	ck_assert_int_eq(policy_gakp_params(p, &req, &g, &e), -1);
	ck_assert_int_eq(e.code, code);
	ck_assert_msg(strstr(e.msg, why) && strstr(e.msg, p->name), "got: %s", e.msg);
}

/* the policy's own limits (max-keys, devices): SMK_E_POLICY */
static void gakp_refused(const policy *p, const char *label, const char *chr, uint64_t made,
			 const char *why)
{
	gakp_refused_as(p, label, chr, made, SMK_E_POLICY, why);
}

/* the request's label: SMK_E_LABEL, so smkeyd answers InvalidParameter{label} */
static void label_refused(const policy *p, const char *label, const char *why)
{
	gakp_refused_as(p, label, NULL, 0, SMK_E_LABEL, why);
}

START_TEST(examples_yield_expected_bytes)
{
	policy_set *s = examples();
	const policy *apk, *fw, *kex;
	policy_gakp g;

	ck_assert_uint_eq(policy_set_count(s), 3);

	apk = policy_set_find(s, "release-apk");
	ck_assert_ptr_nonnull(apk);
	gakp_ok(apk, "app-2027", NULL, 0, &g);
	ck_assert_int_eq(g.key_type, SMK_KEY_EC);
	ck_assert_str_eq(g.curve->name, "secp256r1");
	/* ecdsa (host hashes) and ecdsa-sha256 (card hashes); no wrap */
	tu_assert_hex(g.alg_list, g.alg_list_len, "70 73");
	tu_assert_hex(g.meta, g.meta_len, "91 02 70 73");
	tu_assert_hex(g.key_template, g.key_template_len, P256_TEMPLATE);
	ck_assert_str_eq(g.label, "apk-app-2027");
	ck_assert_int_eq(apk->exportable, 0);
	ck_assert_int_eq(g.key_domain, -1);
	ck_assert_uint_eq(g.use_counter, 0);
	ck_assert_mem_eq(g.policy_digest, apk->digest, 32);

	fw = policy_set_find(s, "firmware-rsa");
	ck_assert_ptr_nonnull(fw);
	gakp_ok(fw, "fleet-2027", NULL, 1, &g);
	ck_assert_int_eq(g.key_type, SMK_KEY_RSA);
	ck_assert_uint_eq(g.bits, 3072);
	/* 90: 100000 operations; 91: rsa-pss, rsa-pss-sha256 */
	tu_assert_hex(g.meta, g.meta_len, "90 04 000186A0 91 02 40 43");
	/* ref §6.7 RSA template, modulus size 3072 = 0x0C00 */
	tu_assert_hex(g.key_template, g.key_template_len,
		      "7F4915 060A04007F00070202020102 8203010001 02020C00");
	ck_assert_str_eq(g.label, "fw-fleet-2027");
	ck_assert_uint_eq(fw->max_keys, 2);

	kex = policy_set_find(s, "ecdh-agreement");
	ck_assert_ptr_nonnull(kex);
	gakp_ok(kex, "backup", NULL, 0, &g);
	tu_assert_hex(g.meta, g.meta_len, "91 01 80");
	ck_assert_str_eq(g.curve->name, "secp384r1");
	/* 7F49 82 LL, then the same OID as P-256 and a 48-byte prime */
	tu_assert_hex(g.key_template, 19, "7F49 82 013A 060A04007F00070202020203 8130");
	/* 12 OID + 3 x (2 + 48) p, a, b + (2 + 97) G + (2 + 48) r + 3 cofactor = 314 */
	ck_assert_uint_eq(g.key_template_len, 5 + 314);

	ck_assert_ptr_null(policy_set_find(s, "release"));
	policy_set_unref(s);
}
END_TEST

/* One file per mistake; each must name its line and column and the problem. */
static const struct broken_case {
	const char *file;
	const char *where; /* LINE:COL */
	const char *problem;
} broken[] = {
    {"unknown-key.yaml", "6:1", "unknown key \"algoritms\"; did you mean \"algorithms\"?"},
    {"allow-unknown-key.yaml", "10:3", "unknown key \"gruops\" in allow; did you mean"},
    {"unknown-alg.yaml", "6:14", "unknown algorithm \"ecdsa-sha999\"; known for ec keys: ecdsa,"},
    {"empty-algs.yaml", "6:13", "algorithms is an empty list"},
    {"missing-algs.yaml", "1:1", "missing \"algorithms\""},
    {"algs-scalar.yaml", "6:13", "algorithms is a single value; it must be a list"},
    {"too-many-algs.yaml", "23:5", "more than 16 algorithms"},
    {"dup-alg.yaml", "9:5", "\"ecdsa-sha256\" is listed twice (first at 7:5)"},
    {"ecdsa-on-rsa.yaml", "6:23", "\"ecdsa-sha256\" cannot be used with an rsa key"},
    {"wrap-no-domain.yaml", "6:28", "\"wrap\" needs a key-domain"},
    {"exportable-mismatch.yaml", "10:13", "exportable: true, but \"wrap\" is not in algorithms"},
    {"exportable-no.yaml", "10:13", "exportable must be true or false"},
    {"unknown-curve.yaml", "5:10", "unknown curve \"secp999r1\"; known: secp256r1"},
    {"bad-bits.yaml", "5:9", "bits 1024 is not offered; use 2048, 3072 or 4096"},
    {"bits-quoted.yaml", "5:9", "bits must be 2048, 3072 or 4096, written without quotes"},
    {"curve-on-rsa.yaml", "6:10", "curve is for ec keys"},
    {"bits-on-ec.yaml", "6:9", "bits is for rsa keys"},
    {"ec-no-curve.yaml", "3:6", "missing \"curve\""},
    {"bad-keytype.yaml", "4:9", "unknown key type \"dsa\"; use ec or rsa"},
    {"label-space.yaml", "7:12", "a space would be in every label"},
    {"label-slash.yaml", "7:11", "character '/' would be in every label"},
    {"label-placeholder.yaml", "7:12", "unknown placeholder \"{user}\""},
    {"label-unclosed.yaml", "7:12", "\"{\" is never closed"},
    {"label-too-long.yaml", "7:8", "64 fixed characters plus the request label leave no room"},
    {"unknown-user.yaml", "9:11", "unknown user \"no-such-user-smkeyd\""},
    {"unknown-group.yaml", "9:12", "unknown group \"no-such-group-smkeyd\""},
    {"dup-user.yaml", "9:17", "user \"root\" is listed twice"},
    {"no-allow.yaml", "1:1", "missing \"allow\""},
    {"allow-empty.yaml", "8:8", "allow names nobody"},
    {"dup-key.yaml", "3:1", "duplicate key \"name\" (first at 1:1)"},
    {"anchor.yaml", "9:10", "anchor \"&admins\" is not allowed"},
    {"alias.yaml", "10:11", "alias \"*admins\" is not allowed"},
    {"tag.yaml", "2:14", "tag \"tag:yaml.org,2002:str\" is not allowed"},
    {"two-docs.yaml", "10:1", "a second document"},
    {"too-deep.yaml", "2:21", "nested more than 8 levels deep"},
    {"tab-indent.yaml", "5:1", "YAML syntax: found a tab character"},
    {"empty.yaml", "1:1", "empty file"},
    {"root-list.yaml", "1:1", "the file holds a list; a policy is a mapping"},
    {"name-mismatch.yaml", "1:7", "name \"other-name\" differs from the file name"},
    {"description-null.yaml", "2:14", "description has no value"},
    {"use-counter-zero.yaml", "10:14",
     "use-counter 0 is out of range; it must be from 1 to 4294967295"},
    {"use-counter-big.yaml", "10:14", "use-counter 4294967296 is out of range"},
    {"use-counter-text.yaml", "10:14", "use-counter must be a whole number"},
    {"key-domain-256.yaml", "10:13", "key-domain 256 is out of range; it must be from 0 to 255"},
    {"max-keys-negative.yaml", "10:11", "max-keys -1 is out of range"},
    {"dup-device.yaml", "10:24", "device \"DENK0404144\" is listed twice"},
    {"device-bad.yaml", "10:11", "device \"DENK 0404144\" is not a device serial"},
    {"sign-unknown-key.yaml", "12:3", "unknown key \"max-per-dya\" in sign; did you mean"},
    {"sign-empty.yaml", "10:7", "sign names nobody"},
    {"sign-scalar.yaml", "10:7", "sign must be a mapping with users and/or groups"},
    {"sign-unknown-user.yaml", "11:11", "unknown user \"no-such-user-smkeyd\""},
    {"sign-max-zero.yaml", "12:16", "sign.max-per-day 0 is out of range"},
    {"sign-log-text.yaml", "12:8", "sign.log must be true or false"},
    {"sign-dup-user.yaml", "11:17", "user \"root\" is listed twice (first at 11:11)"},
};

#define BROKEN_COUNT (sizeof(broken) / sizeof(broken[0]))

START_TEST(broken_policy_names_line_and_problem)
{
	const struct broken_case *c = &broken[_i];
	char path[4096], where[4200];
	policy *p = NULL;
	smk_err e;

	snprintf(path, sizeof(path), "%s/%s/%s", SMK_SOURCE_DIR, BROKEN, c->file);
	snprintf(where, sizeof(where), "%s:%s: ", path, c->where);
	ck_assert_msg(policy_load_file(path, &p, &e) == -1, "%s loaded", c->file);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(e.code, SMK_E_POLICY);
	ck_assert_msg(strncmp(e.msg, where, strlen(where)) == 0, "want %s\n got %s", where, e.msg);
	ck_assert_msg(strstr(e.msg, c->problem) != NULL, "want \"%s\"\n got %s", c->problem, e.msg);
}
END_TEST

/* Every fixture is in the table (none silently unchecked), and there are enough. */
START_TEST(every_broken_fixture_is_checked)
{
	DIR *d = opendir(SMK_SOURCE_DIR "/" BROKEN);
	struct dirent *de;
	size_t files = 0, i;

	ck_assert_ptr_nonnull(d);
	ck_assert_uint_ge(BROKEN_COUNT, 25);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		files++;
		for (i = 0; i < BROKEN_COUNT; i++)
			if (strcmp(broken[i].file, de->d_name) == 0)
				break;
		ck_assert_msg(i < BROKEN_COUNT, "%s has no expected message", de->d_name);
	}
	closedir(d);
	ck_assert_uint_eq(files, BROKEN_COUNT);
}
END_TEST

static void count_report(void *ctx, const smk_err *e)
{
	ck_assert_int_eq(e->code, SMK_E_POLICY);
	(*(size_t *)ctx)++;
}

START_TEST(directory_with_broken_files_reports_each)
{
	policy_set *s = NULL;
	size_t reported = 0;
	smk_err e;

	/* the broken directory holds only bad files: every one is reported */
	ck_assert_int_eq(
	    policy_set_load(SMK_SOURCE_DIR "/" BROKEN, &s, count_report, &reported, &e), -1);
	ck_assert_ptr_null(s);
	ck_assert_uint_eq(reported, BROKEN_COUNT);
	ck_assert_msg(strstr(e.msg, "errors, the first") && strstr(e.msg, ".yaml:"), "%s", e.msg);
}
END_TEST

START_TEST(canonical_document_and_digest)
{
	policy_set *s = examples();
	const policy *apk = policy_set_find(s, "release-apk");
	uint8_t md[32];
	unsigned int mdlen = 0;
	json_error_t jerr;
	json_t *doc, *algs, *users;
	char *again;

	/* digest = SHA-256 over exactly the canonical bytes */
	ck_assert(EVP_Digest(apk->canonical, apk->canonical_len, md, &mdlen, EVP_sha256(), NULL));
	ck_assert_mem_eq(md, apk->digest, 32);
	ck_assert_uint_eq(strlen(apk->digest_hex), 64);

	doc = json_loads(apk->canonical, 0, &jerr);
	ck_assert_msg(doc != NULL, "%s", jerr.text);
	/* the document is already in its canonical form: re-encoding changes nothing */
	again = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT);
	ck_assert_str_eq(again, apk->canonical);
	free(again);

	ck_assert_str_eq(json_string_value(json_object_get(doc, "format")), "smkeyd-policy");
	ck_assert_int_eq(json_integer_value(json_object_get(doc, "version")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "alg-list-hex")), "7073");
	algs = json_object_get(doc, "algorithms");
	ck_assert_uint_eq(json_array_size(algs), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(algs, 0), "name")),
			 "ecdsa");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(algs, 0), "id")), 0x70);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(algs, 1), "name")),
			 "ecdsa-sha256");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(algs, 1), "id")), 0x73);
	/* sign: is the daemon's rule, not part of the archived document */
	ck_assert_ptr_null(json_object_get(doc, "sign"));
	ck_assert(json_is_false(json_object_get(doc, "exportable")));
	ck_assert(json_is_null(json_object_get(doc, "use-counter")));
	ck_assert(json_is_null(json_object_get(doc, "key-domain")));
	ck_assert(json_is_null(json_object_get(doc, "devices")));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "key"), "curve")),
			 "secp256r1");
	users = json_object_get(json_object_get(doc, "allow"), "users");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(users, 0), "name")),
			 "root");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(users, 0), "uid")), 0);
	json_decref(doc);
	policy_set_unref(s);
}
END_TEST

START_TEST(digest_ignores_formatting)
{
	policy_set *s = examples();
	policy *p = must_parse("elsewhere/release-apk.yml", apk_reworded);

	ck_assert_str_eq(p->canonical, policy_set_find(s, "release-apk")->canonical);
	ck_assert_str_eq(p->digest_hex, policy_set_find(s, "release-apk")->digest_hex);
	policy_free(p);
	policy_set_unref(s);
}
END_TEST

START_TEST(digest_ignores_algorithm_order)
{
	/* the shipped firmware-rsa.yaml with its two algorithms in the other order
	 * and in block style: the card is told the same bytes, the digest is equal */
	policy_set *s = examples();
	smk_buf b = SMK_BUF_INIT;
	char *text, *at;
	policy *p;
	static const char flow[] = "algorithms: [rsa-pss-sha256, rsa-pss]\n";
	static const char block[] = "algorithms:\n  - rsa-pss\n  - rsa-pss-sha256\n";

	tu_read_source_file(&b, "etc/policies.d/firmware-rsa.yaml");
	text = calloc(1, b.len + sizeof(block) + 1);
	ck_assert_ptr_nonnull(text);
	memcpy(text, b.data, b.len);
	at = strstr(text, flow);
	ck_assert_ptr_nonnull(at);
	memmove(at + strlen(block), at + strlen(flow), strlen(at + strlen(flow)) + 1);
	memcpy(at, block, strlen(block));
	p = must_parse("firmware-rsa.yaml", text);
	ck_assert_str_eq(p->digest_hex, policy_set_find(s, "firmware-rsa")->digest_hex);
	tu_assert_hex(p->alg_list, p->alg_count, "40 43");
	policy_free(p);
	free(text);
	smk_buf_free(&b);
	policy_set_unref(s);
}
END_TEST

/* Each variant changes one thing a reviewer cares about. */
static const char *const meaningful[] = {
    "name: release-apk\ndescription: other\nkey: {type: ec, curve: secp256r1}\n"
    "algorithms: [ecdsa-sha256]\nlabel: apk-{request.label}\nallow: {users: [root]}\n",
    "name: release-apk\ndescription: d\nkey: {type: ec, curve: secp384r1}\n"
    "algorithms: [ecdsa-sha256]\nlabel: apk-{request.label}\nallow: {users: [root]}\n",
    "name: release-apk\ndescription: d\nkey: {type: ec, curve: secp256r1}\n"
    "algorithms: [ecdsa]\nlabel: apk-{request.label}\nallow: {users: [root]}\n",
    "name: release-apk\ndescription: d\nkey: {type: ec, curve: secp256r1}\n"
    "algorithms: [ecdsa-sha256, ecdsa]\nlabel: apk-{request.label}\nallow: {users: [root]}\n",
    "name: release-apk\ndescription: d\nkey: {type: ec, curve: secp256r1}\n"
    "algorithms: [ecdsa-sha256, wrap]\nkey-domain: 0\nlabel: apk-{request.label}\n"
    "allow: {users: [root]}\n",
    "name: release-apk\ndescription: d\nkey: {type: ec, curve: secp256r1}\n"
    "algorithms: [ecdsa-sha256]\nkey-domain: 0\nlabel: apk-{request.label}\n"
    "allow: {users: [root]}\n",
    "name: release-apk\ndescription: d\nkey: {type: ec, curve: secp256r1}\n"
    "algorithms: [ecdsa-sha256]\nuse-counter: 1\nlabel: apk-{request.label}\n"
    "allow: {users: [root]}\n",
    "name: release-apk\ndescription: d\nkey: {type: ec, curve: secp256r1}\n"
    "algorithms: [ecdsa-sha256]\nuse-counter: 2\nlabel: apk-{request.label}\n"
    "allow: {users: [root]}\n",
    "name: release-apk\ndescription: d\nkey: {type: ec, curve: secp256r1}\n"
    "algorithms: [ecdsa-sha256]\nlabel: app-{request.label}\nallow: {users: [root]}\n",
    "name: release-apk\ndescription: d\nkey: {type: ec, curve: secp256r1}\n"
    "algorithms: [ecdsa-sha256]\nlabel: apk-{request.label}\nallow: {users: [daemon]}\n",
    "name: release-apk\ndescription: d\nkey: {type: ec, curve: secp256r1}\n"
    "algorithms: [ecdsa-sha256]\nlabel: apk-{request.label}\nallow: {groups: [root]}\n",
    "name: release-apk\ndescription: d\nkey: {type: ec, curve: secp256r1}\n"
    "algorithms: [ecdsa-sha256]\nlabel: apk-{request.label}\nallow: {users: [root]}\n"
    "max-keys: 1\n",
    "name: release-apk\ndescription: d\nkey: {type: ec, curve: secp256r1}\n"
    "algorithms: [ecdsa-sha256]\nlabel: apk-{request.label}\nallow: {users: [root]}\n"
    "devices: [DENK0404144]\n",
    "name: release-apk\ndescription: d\nkey: {type: ec, curve: secp256r1}\n"
    "algorithms: [ecdsa-sha256]\nlabel: apk-{request.label}\nallow: {users: [root]}\n"
    "car: DESRCACC100001\n",
};

START_TEST(digest_follows_meaning)
{
	size_t n = sizeof(meaningful) / sizeof(meaningful[0]), i, j;
	policy *base = must_parse("release-apk.yaml", apk_base);
	policy *v[sizeof(meaningful) / sizeof(meaningful[0])];

	for (i = 0; i < n; i++) {
		v[i] = must_parse("release-apk.yaml", meaningful[i]);
		ck_assert_msg(strcmp(v[i]->digest_hex, base->digest_hex) != 0,
			      "variant %zu hashes like the base", i);
		for (j = 0; j < i; j++)
			ck_assert_msg(strcmp(v[i]->digest_hex, v[j]->digest_hex) != 0,
				      "variants %zu and %zu hash alike", j, i);
	}
	for (i = 0; i < n; i++)
		policy_free(v[i]);
	policy_free(base);
}
END_TEST

/* The inner CAR: every GAKP carries one (the default unless car: says
 * otherwise); a policy without car: keeps the canonical document and digest
 * it had before the member existed, so archived intents still match. */
START_TEST(car_default_and_policy_value)
{
	/* SHA-256 of apk_base's canonical document as smkeyd computed it before
	 * policies knew car: */
	static const char digest_before_car[] =
	    "1a74e45dad2c15990828617279c08f5ddd476df2737e4be117b4e29ee875857c";
	static const char *const bad[][2] = {
	    {"car: \"\"\n", "1 to 16"},
	    {"car: DESRCACC1000012345\n", "18 characters"},
	    {"car: \"UT\\tCA\"\n", "byte 0x09 at position 3"},
	    {"car: [UTCA00001]\n", "car"},
	};
	policy *base = must_parse("release-apk.yaml", apk_base);
	policy *withcar;
	policy_gakp g;
	smk_buf text = SMK_BUF_INIT;
	json_t *doc;
	smk_err e;
	size_t i;

	ck_assert_str_eq(base->digest_hex, digest_before_car);
	ck_assert_ptr_null(strstr(base->canonical, "\"car\""));
	gakp_ok(base, "x", NULL, 0, &g);
	ck_assert_str_eq(g.spec.car, POLICY_CAR_DEFAULT);
	ck_assert_str_eq(g.spec.car, "UTCA00001");

	ck_assert_int_eq(smk_buf_add(&text, apk_base, strlen(apk_base)), 0);
	ck_assert_int_eq(smk_buf_add(&text, "car: DESRCACC100001\n", 20), 0);
	ck_assert_int_eq(smk_buf_add(&text, "", 1), 0);
	withcar = must_parse("release-apk.yaml", (const char *)text.data);
	ck_assert_str_ne(withcar->digest_hex, base->digest_hex);
	doc = json_loads(withcar->canonical, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "car")), "DESRCACC100001");
	json_decref(doc);
	gakp_ok(withcar, "x", NULL, 0, &g);
	ck_assert_str_eq(g.spec.car, "DESRCACC100001");
	policy_free(withcar);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		policy *p;

		smk_buf_reset(&text);
		ck_assert_int_eq(smk_buf_add(&text, apk_base, strlen(apk_base)), 0);
		ck_assert_int_eq(smk_buf_add(&text, bad[i][0], strlen(bad[i][0]) + 1), 0);
		p = parse_text("release-apk.yaml", (const char *)text.data, &e);
		ck_assert_msg(p == NULL, "%s loaded", bad[i][0]);
		ck_assert_msg(strstr(e.msg, "release-apk.yaml:7:") && strstr(e.msg, bad[i][1]),
			      "%s: got %s", bad[i][0], e.msg);
	}
	smk_buf_free(&text);
	policy_free(base);
}
END_TEST

START_TEST(authorization_by_uid_gid_and_groups)
{
	policy_set *s = examples();
	const policy *apk = policy_set_find(s, "release-apk");	  /* users root, groups adm */
	const policy *kex = policy_set_find(s, "ecdh-agreement"); /* groups adm only */
	const gid_t adm[] = {100, 4}, other[] = {100, 27};
	policy_peer root = {0, 0, NULL, 0};
	policy_peer user = {1000, 1000, NULL, 0};
	policy_peer admin = {1000, 1000, adm, 2};
	policy_peer primary = {1000, 4, NULL, 0};
	policy_peer stranger = {1000, 1000, other, 2};
	smk_err e;

	ck_assert_int_eq(policy_authorize(apk, &root, &e), 0);
	ck_assert_int_eq(policy_authorize(apk, &admin, &e), 0);
	ck_assert_int_eq(policy_authorize(apk, &primary, &e), 0);
	ck_assert_int_eq(policy_authorize(apk, &user, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_DENIED);
	ck_assert_msg(strstr(e.msg, "policy release-apk") && strstr(e.msg, "uid 1000"), "%s",
		      e.msg);
	ck_assert_int_eq(policy_authorize(apk, &stranger, &e), -1);
	/* root is not special: a policy for a group is for that group */
	ck_assert_int_eq(policy_authorize(kex, &root, &e), -1);
	ck_assert_msg(strstr(e.msg, "policy ecdh-agreement") && strstr(e.msg, "uid 0"), "%s",
		      e.msg);
	ck_assert_int_eq(policy_authorize(kex, &admin, &e), 0);
	policy_set_unref(s);
}
END_TEST

/* sign: names who may sign with the policy's keys, by name or number; no
 * implicit right for root or admins; no section: nobody. It is not part of
 * the canonical document, so it changes no digest. */
START_TEST(sign_section_authorizes_and_leaves_digest)
{
	static const char with_sign[] = "sign:\n"
					"  users: [\"1000\", root]\n"
					"  groups: [adm]\n"
					"  max-per-day: 50\n"
					"  log: false\n";
	static const char only_group[] = "sign: {groups: [\"4242\"]}\n";
	const gid_t adm[] = {100, 4}, g4242[] = {4242};
	policy_peer root = {0, 0, NULL, 0};
	policy_peer numeric = {1000, 1000, NULL, 0};
	policy_peer admin = {1001, 1001, adm, 2};
	policy_peer stranger = {1002, 1002, NULL, 0};
	policy_peer member = {1002, 1002, g4242, 1};
	char text[1024];
	policy *base, *p, *q;
	smk_err e;

	base = must_parse("release-apk.yaml", apk_base);
	snprintf(text, sizeof(text), "%s%s", apk_base, with_sign);
	p = must_parse("release-apk.yaml", text);
	snprintf(text, sizeof(text), "%s%s", apk_base, only_group);
	q = must_parse("release-apk.yaml", text);

	/* no sign: section: nobody, not even root */
	ck_assert_int_eq(base->has_sign, 0);
	ck_assert_int_eq(policy_authorize_sign(base, &root, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_DENIED);
	ck_assert_msg(strstr(e.msg, "no sign: section"), "%s", e.msg);

	ck_assert_int_eq(p->has_sign, 1);
	ck_assert_uint_eq(p->sign_max_per_day, 50);
	ck_assert_int_eq(p->sign_log, 0);
	ck_assert_int_eq(q->sign_log, 1); /* the default */
	ck_assert_uint_eq(q->sign_max_per_day, 0);
	ck_assert_int_eq(policy_authorize_sign(p, &root, &e), 0);
	ck_assert_int_eq(policy_authorize_sign(p, &numeric, &e), 0);
	ck_assert_int_eq(policy_authorize_sign(p, &admin, &e), 0);
	ck_assert_int_eq(policy_authorize_sign(p, &stranger, &e), -1);
	ck_assert_msg(strstr(e.msg, "uid 1002") && strstr(e.msg, "may not sign"), "%s", e.msg);
	/* root and admins are not special: only what sign: names */
	ck_assert_int_eq(policy_authorize_sign(q, &root, &e), -1);
	ck_assert_int_eq(policy_authorize_sign(q, &admin, &e), -1);
	ck_assert_int_eq(policy_authorize_sign(q, &member, &e), 0);
	/* allow: still decides who may generate, apart from sign: */
	ck_assert_int_eq(policy_authorize(q, &root, &e), 0);

	/* the archived document and its digest do not see sign: */
	ck_assert_str_eq(p->canonical, base->canonical);
	ck_assert_str_eq(q->digest_hex, base->digest_hex);
	policy_free(base);
	policy_free(p);
	policy_free(q);
}
END_TEST

START_TEST(request_label_and_max_keys)
{
	policy_set *s = examples();
	const policy *apk = policy_set_find(s, "release-apk");
	const policy *fw = policy_set_find(s, "firmware-rsa");
	policy *fixed;
	policy_gakp g;
	char longest[61];

	label_refused(apk, NULL, "needs a label");
	label_refused(apk, "", "needs a label");
	label_refused(apk, "app/2027", "other than A-Z a-z 0-9 . _ - at position 4");
	label_refused(apk, "app 2027", "at position 4");
	label_refused(apk, "caf\xc3\xa9", "at position 4");
	/* "apk-" + 60 = 64 characters fits, one more does not */
	memset(longest, 'x', 60);
	longest[60] = '\0';
	gakp_ok(apk, longest, NULL, 0, &g);
	ck_assert_uint_eq(strlen(g.label), 64);
	ck_assert(strncmp(g.label, "apk-xxx", 7) == 0);
	label_refused(apk, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		      "at most 60");

	/* max-keys 2: the second key may be made, a third may not */
	gakp_ok(fw, "a", NULL, 1, &g);
	gakp_refused(fw, "a", NULL, 2, "max-keys 2 reached");
	gakp_refused(fw, "a", NULL, 1000, "max-keys 2 reached");

	fixed = must_parse("signer.yaml", "name: signer\ndescription: d\n"
					  "key: {type: ec, curve: secp256r1}\n"
					  "algorithms: [ecdsa-sha256]\nlabel: archive-signer\n"
					  "allow: {users: [root]}\n");
	gakp_ok(fixed, NULL, NULL, 0, &g);
	ck_assert_str_eq(g.label, "archive-signer");
	label_refused(fixed, "mine", "the label is fixed");
	policy_free(fixed);
	policy_set_unref(s);
}
END_TEST

START_TEST(devices_by_serial_or_chr)
{
	policy *p = must_parse("pinned.yaml", "name: pinned\ndescription: d\n"
					      "key: {type: ec, curve: brainpoolP256r1}\n"
					      "algorithms: [ecdsa]\nlabel: k-{request.label}\n"
					      "allow: {users: [root]}\n"
					      "devices: [DENK0404144, DECC120323900000]\n");
	policy_gakp g;
	smk_err e;

	ck_assert_int_eq(policy_device_allowed(p, "DENK040414400000", &e), 0); /* by serial */
	ck_assert_int_eq(policy_device_allowed(p, "DECC120323900000", &e), 0); /* by CHR */
	ck_assert_int_eq(policy_device_allowed(p, "DECC1203239", &e), -1);     /* CHR listed */
	ck_assert_int_eq(policy_device_allowed(p, "DENK040414500000", &e), -1);
	ck_assert_msg(strstr(e.msg, "DENK040414500000 is not in its devices list"), "%s", e.msg);
	gakp_ok(p, "x", "DENK040414400000", 0, &g);
	gakp_refused(p, "x", NULL, 0, "no device was named");
	gakp_refused(p, "x", "DEDINK0400001", 0, "not in its devices list");
	policy_free(p);
}
END_TEST

START_TEST(wrap_needs_domain_and_makes_exportable)
{
	policy *p =
	    must_parse("backup.yaml", "name: backup\ndescription: d\n"
				      "key: {type: rsa, bits: 2048}\n"
				      "algorithms: [wrap, rsa-pkcs1-sha256]\nkey-domain: 1\n"
				      "use-counter: 4294967295\nexportable: true\n"
				      "label: b-{request.label}\nallow: {groups: [nogroup]}\n");
	policy_gakp g;

	ck_assert_int_eq(p->exportable, 1);
	ck_assert(strstr(p->canonical, "\"exportable\":true") != NULL);
	ck_assert(strstr(p->canonical, "{\"gid\":65534,\"name\":\"nogroup\"}") != NULL);
	gakp_ok(p, "x", NULL, 0, &g);
	/* ascending ids: 33 before 92; then the domain */
	tu_assert_hex(g.meta, g.meta_len, "90 04 FFFFFFFF 91 02 33 92 92 01 01");
	tu_assert_hex(g.key_template + g.key_template_len - 4, 4, "02 02 0800");
	policy_free(p);
}
END_TEST

START_TEST(label_templates)
{
	char why[200];

	ck_assert_int_eq(policy_label_template_check("apk-{request.label}", why, sizeof(why)), 0);
	ck_assert_int_eq(policy_label_template_check("{request.label}.v2", why, sizeof(why)), 0);
	ck_assert_int_eq(policy_label_template_check("fixed_name", why, sizeof(why)), 0);
	ck_assert_int_eq(
	    policy_label_template_check("{request.label}{request.label}", why, sizeof(why)), -1);
	ck_assert(strstr(why, "only once"));
	ck_assert_int_eq(policy_label_template_check("", why, sizeof(why)), -1);
	ck_assert_int_eq(policy_label_template_check("a}b", why, sizeof(why)), -1);
	ck_assert_int_eq(policy_label_template_check("k\t{request.label}", why, sizeof(why)), -1);
	ck_assert(strstr(why, "byte 0x09"));
}
END_TEST

/* Hostile bytes: every prefix of a good file, and garbage, fail cleanly. */
START_TEST(truncated_and_garbage_input)
{
	smk_buf b = SMK_BUF_INIT;
	uint32_t x = 12345;
	uint8_t junk[512];
	policy *p;
	smk_err e;
	size_t n, i, complete;
	const uint8_t *last;
	int rc;

	tu_read_source_file(&b, "etc/policies.d/firmware-rsa.yaml");
	/* the file ends with "allow:\n  users: [root]\n": a policy only from the "]" on */
	last = memrchr(b.data, ']', b.len);
	ck_assert_ptr_nonnull(last);
	complete = (size_t)(last - b.data) + 1;
	for (n = 0; n <= b.len; n++) {
		rc = policy_parse("firmware-rsa.yaml", b.data, n, &p, &e);
		ck_assert_msg((rc == 0) == (n >= complete), "prefix of %zu bytes: %s", n,
			      rc ? e.msg : "loaded");
		if (rc == 0) {
			policy_free(p);
			continue;
		}
		ck_assert_msg(strncmp(e.msg, "firmware-rsa.yaml:", 18) == 0, "%s", e.msg);
	}
	for (n = 0; n < 200; n++) {
		for (i = 0; i < sizeof(junk); i++) {
			x = x * 1103515245u + 12345u;
			junk[i] = (uint8_t)(x >> 16);
		}
		/* half the rounds: garbage after a valid start */
		if (n % 2)
			memcpy(junk, b.data, b.len < 256 ? b.len : 256);
		ck_assert_int_eq(policy_parse("junk.yaml", junk, sizeof(junk), &p, &e), -1);
		ck_assert_ptr_null(p);
	}
	smk_buf_free(&b);
}
END_TEST

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	fclose(f);
}

static void remove_dir(const char *dir)
{
	char path[4096];
	struct dirent *de;
	DIR *d = opendir(dir);

	while (d && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

START_TEST(oversized_file_is_refused)
{
	char dir[256], path[4200];
	size_t size = POLICY_FILE_MAX + 1;
	char *big = malloc(size + 1);
	policy *p = NULL;
	smk_err e;

	tu_temp_dir(dir, sizeof(dir), "smk-policy");
	memcpy(big, apk_base, strlen(apk_base));
	memset(big + strlen(apk_base), '#', size - strlen(apk_base));
	big[strlen(apk_base)] = '\n';
	big[size] = '\0';
	write_file(dir, "release-apk.yaml", big);
	snprintf(path, sizeof(path), "%s/release-apk.yaml", dir);
	ck_assert_int_eq(policy_load_file(path, &p, &e), -1);
	ck_assert_msg(strstr(e.msg, "at most 65536 bytes"), "%s", e.msg);
	/* one byte less loads: the limit is what it says */
	big[size - 1] = '\0';
	write_file(dir, "release-apk.yaml", big);
	ck_assert_msg(policy_load_file(path, &p, &e) == 0, "%s", e.msg);
	policy_free(p);
	free(big);
	remove_dir(dir);
}
END_TEST

START_TEST(reload_is_all_or_nothing)
{
	char dir[256];
	policy_set *current = NULL, *in_flight;
	const policy *old_apk;
	char old_digest[65];
	smk_err e;

	tu_temp_dir(dir, sizeof(dir), "smk-policy");
	ck_assert_int_eq(policy_set_load(dir, &current, NULL, NULL, &e), -1);
	ck_assert_msg(strstr(e.msg, "no *.yaml files"), "%s", e.msg);

	write_file(dir, "release-apk.yaml", apk_base);
	write_file(dir, "notes.txt", "not a policy");
	write_file(dir, ".release-apk.yaml.swp", "editor junk");
	ck_assert_msg(policy_set_load(dir, &current, NULL, NULL, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(policy_set_count(current), 1);

	/* a request in flight keeps its set */
	in_flight = policy_set_ref(current);
	old_apk = policy_set_find(in_flight, "release-apk");
	snprintf(old_digest, sizeof(old_digest), "%s", old_apk->digest_hex);

	/* a typo on reload: refused, and the running set is the same set */
	write_file(dir, "ecdh.yaml",
		   "name: ecdh\nkey: {type: ec, curve: secp256r1}\n"
		   "algoritms: [ecdh]\n");
	ck_assert_int_eq(policy_set_reload(&current, dir, &e), -1);
	ck_assert_ptr_eq(current, in_flight);
	ck_assert_msg(strstr(e.msg, "reload refused, the 1 loaded policies stay in force") &&
			  strstr(e.msg, "ecdh.yaml:3:1: unknown key \"algoritms\""),
		      "%s", e.msg);
	ck_assert_ptr_nonnull(policy_set_find(current, "release-apk"));

	/* fixed, and release-apk changed: the new set takes effect */
	write_file(dir, "ecdh.yaml",
		   "name: ecdh\ndescription: d\n"
		   "key: {type: ec, curve: secp256r1}\n"
		   "algorithms: [ecdh]\nlabel: e-{request.label}\n"
		   "allow: {users: [root]}\n");
	write_file(dir, "release-apk.yaml",
		   "name: release-apk\ndescription: d\nkey: {type: ec, curve: secp256r1}\n"
		   "algorithms: [ecdsa]\nlabel: apk-{request.label}\nallow: {users: [root]}\n");
	ck_assert_msg(policy_set_reload(&current, dir, &e) == 0, "%s", e.msg);
	ck_assert_ptr_ne(current, in_flight);
	ck_assert_uint_eq(policy_set_count(current), 2);
	ck_assert_str_ne(policy_set_find(current, "release-apk")->digest_hex, old_digest);
	/* ...while the old request still sees the policy it started with */
	ck_assert_str_eq(old_apk->digest_hex, old_digest);
	ck_assert_uint_eq(old_apk->alg_list[0], 0x73);
	policy_set_unref(in_flight);

	/* x.yaml next to x.yml defines x twice */
	write_file(dir, "ecdh.yml",
		   "name: ecdh\ndescription: d\n"
		   "key: {type: ec, curve: secp256r1}\n"
		   "algorithms: [ecdh]\nlabel: e-{request.label}\n"
		   "allow: {users: [root]}\n");
	ck_assert_int_eq(policy_set_reload(&current, dir, &e), -1);
	ck_assert_msg(strstr(e.msg, "policy \"ecdh\" is also defined in"), "%s", e.msg);
	ck_assert_uint_eq(policy_set_count(current), 2);
	policy_set_unref(current);
	remove_dir(dir);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("policy");

	tcase_add_test(tc, examples_yield_expected_bytes);
	tcase_add_loop_test(tc, broken_policy_names_line_and_problem, 0, (int)BROKEN_COUNT);
	tcase_add_test(tc, every_broken_fixture_is_checked);
	tcase_add_test(tc, directory_with_broken_files_reports_each);
	tcase_add_test(tc, canonical_document_and_digest);
	tcase_add_test(tc, digest_ignores_formatting);
	tcase_add_test(tc, digest_ignores_algorithm_order);
	tcase_add_test(tc, digest_follows_meaning);
	tcase_add_test(tc, car_default_and_policy_value);
	tcase_add_test(tc, authorization_by_uid_gid_and_groups);
	tcase_add_test(tc, sign_section_authorizes_and_leaves_digest);
	tcase_add_test(tc, request_label_and_max_keys);
	tcase_add_test(tc, devices_by_serial_or_chr);
	tcase_add_test(tc, wrap_needs_domain_and_makes_exportable);
	tcase_add_test(tc, label_templates);
	tcase_add_test(tc, truncated_and_garbage_input);
	tcase_add_test(tc, oversized_file_is_refused);
	tcase_add_test(tc, reload_is_all_or_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(policy_suite());
}
