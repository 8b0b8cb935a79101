/* SPDX-License-Identifier: BSD-3-Clause */
/* Canonical encoding of intents and records, and the strict record parser. */
#include "record.h"

#include <stdlib.h>
#include <string.h>

#include "../common/hex.h"
#include "../sm/tlv.h"
#include "internal.h"
#include "merkle.h"

void archive_chr_from_digest(const uint8_t digest[32], char out[ARCHIVE_CHR_LEN + 1])
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	unsigned bit = 0;
	size_t i;

	out[0] = 'S';
	out[1] = 'K';
	/* RFC 4648 §6: 5 bits per character, most significant first */
	for (i = 2; i < ARCHIVE_CHR_LEN; i++, bit += 5) {
		unsigned v =
		    ((unsigned)digest[bit / 8] << 8 | digest[bit / 8 + 1]) >> (11 - bit % 8);
		out[i] = alphabet[v & 31];
	}
	out[ARCHIVE_CHR_LEN] = '\0';
}

/* Object members are built with the _new variants, which take the reference
 * even on failure, so one NULL check at the end catches every allocation. */
static int set(json_t *o, const char *key, json_t *v, int *ok)
{
	if (!v || json_object_set_new(o, key, v) < 0)
		*ok = 0;
	return *ok;
}

/* Peer executables are paths the kernel reports: keep printable ASCII, so
 * the record stays valid JSON whatever bytes the path holds. */
static json_t *printable_string(const char *s)
{
	size_t i, n = s ? strlen(s) : 0;
	char *copy = malloc(n + 1);
	json_t *v;

	if (!copy)
		return NULL;
	for (i = 0; i < n; i++)
		copy[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	copy[n] = '\0';
	v = json_string(copy);
	free(copy);
	return v;
}

static int check_text(const char *s, size_t max, const char *what, smk_err *e)
{
	size_t i, n;

	if (!s || !*s)
		return smk_fail(e, SMK_E_ARG, "%s: missing", what);
	n = strlen(s);
	if (n > max)
		return smk_fail(e, SMK_E_ARG, "%s: longer than %zu characters", what, max);
	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] >= 0x7f)
			return smk_fail(e, SMK_E_ARG, "%s: not printable ASCII", what);
	return 0;
}

/* The members every intent has: format, kind, request id, time, key id,
 * peer, device. */
json_t *archive_intent_common(const char *kind, const archive_peer *p, const char *serial,
			      const char *devaut_chr, unsigned key_id, const char *request_id,
			      int64_t time)
{
	json_t *o = json_object(), *peer = json_object(), *device = json_object();
	int ok = 1;

	if (!o || !peer || !device) {
		json_decref(o);
		json_decref(peer);
		json_decref(device);
		return NULL;
	}
	set(peer, "uid", json_integer(p->uid), &ok);
	set(peer, "gid", json_integer(p->gid), &ok);
	set(peer, "pid", json_integer(p->pid), &ok);
	set(peer, "exe", printable_string(p->exe), &ok);
	set(device, "serial", json_string(serial), &ok);
	set(device, "devaut-chr", json_string(devaut_chr), &ok);
	set(o, "peer", peer, &ok);
	set(o, "device", device, &ok);
	set(o, "format", json_integer(ARCHIVE_FORMAT), &ok);
	set(o, "kind", json_string(kind), &ok);
	set(o, "request-id", json_string(request_id), &ok);
	set(o, "time", json_integer(time), &ok);
	set(o, "key-id", json_integer(key_id), &ok);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int archive_check_device(const char *serial, const char *devaut_chr, unsigned key_id, smk_err *e)
{
	if (check_text(serial, 16, "intent: device serial", e) < 0 ||
	    check_text(devaut_chr, 16, "intent: DevAut CHR", e) < 0)
		return -1;
	if (key_id < 1 || key_id > 255)
		return smk_fail(e, SMK_E_ARG, "intent: key id %u is not 1..255", key_id);
	return 0;
}

int archive_dump_intent(json_t *o, int ok, smk_buf *out, smk_err *e)
{
	int rc = o && ok ? smk_json_canonical(o, out, e)
			 : smk_fail(e, SMK_E_NOMEM, "intent: out of memory");

	json_decref(o);
	return rc;
}

int archive_intent_encode(const archive_intent_req *req, const char *request_id, int64_t time,
			  smk_buf *out, smk_err *e)
{
	json_t *o, *policy;
	uint8_t digest[32];
	int ok = 1;

	if (!req->kind || (strcmp(req->kind, ARCHIVE_KIND_KEY) != 0 &&
			   strcmp(req->kind, ARCHIVE_KIND_ARCHIVE_KEY) != 0))
		return smk_fail(e, SMK_E_ARG, "intent: unknown kind \"%s\"",
				req->kind ? req->kind : "(null)");
	if (check_text(req->policy_name, 127, "intent: policy name", e) < 0 ||
	    archive_check_device(req->device_serial, req->devaut_chr, req->key_id, e) < 0)
		return -1;
	if (!req->policy_doc || req->policy_doc_len == 0)
		return smk_fail(e, SMK_E_ARG, "intent: policy %s: no canonical document",
				req->policy_name);
	if (smk_sha256(req->policy_doc, req->policy_doc_len, digest, e) < 0)
		return -1;

	o = archive_intent_common(req->kind, &req->peer, req->device_serial, req->devaut_chr,
				  req->key_id, request_id, time);
	policy = json_object();
	if (!o || !policy) {
		json_decref(policy);
		return archive_dump_intent(o, 0, out, e);
	}
	set(policy, "name", json_string(req->policy_name), &ok);
	set(policy, "digest", smk_json_b64(digest, sizeof(digest)), &ok);
	set(o, "policy", policy, &ok);
	return archive_dump_intent(o, ok, out, e);
}

int archive_adopt_intent_encode(const archive_adopt_req *req, const char *request_id, int64_t time,
				smk_buf *out, smk_err *e)
{
	if (archive_check_device(req->device_serial, req->devaut_chr, req->key_id, e) < 0)
		return -1;
	/* no policy: the key was not made under one of ours */
	return archive_dump_intent(archive_intent_common(ARCHIVE_KIND_ADOPTED, &req->peer,
							 req->device_serial, req->devaut_chr,
							 req->key_id, request_id, time),
				   1, out, e);
}

int archive_cert_intent_encode(const archive_cert_req *req, const archive_record *key,
			       const char *request_id, int64_t time, smk_buf *out, smk_err *e)
{
	json_t *o, *cert, *keyrec;
	uint8_t digest[32];
	int ok = 1;

	if (!req->cert || req->cert_len == 0 || req->cert_len > ARCHIVE_CERT_MAX)
		return smk_fail(e, SMK_E_ARG, "certificate of %zu bytes (1..%u)", req->cert_len,
				ARCHIVE_CERT_MAX);
	if (archive_check_device(key->device_serial, key->devaut_chr, key->key_id, e) < 0 ||
	    smk_sha256(req->cert, req->cert_len, digest, e) < 0)
		return -1;
	o = archive_intent_common(ARCHIVE_KIND_CERTIFICATE, &req->peer, key->device_serial,
				  key->devaut_chr, key->key_id, request_id, time);
	cert = json_object();
	keyrec = json_object();
	if (!o || !cert || !keyrec) {
		json_decref(cert);
		json_decref(keyrec);
		return archive_dump_intent(o, 0, out, e);
	}
	set(o, "certificate", cert, &ok);
	set(o, "key-record", keyrec, &ok);
	set(cert, "der", smk_json_b64(req->cert, req->cert_len), &ok);
	set(cert, "sha256", smk_json_b64(digest, 32), &ok);
	set(keyrec, "seq", json_integer((json_int_t)key->seq), &ok);
	set(keyrec, "hash", smk_json_b64(key->hash, 32), &ok);
	return archive_dump_intent(o, ok, out, e);
}

/* The request body of an authenticated CV request, ref §3.2:
 * 67 { 7F21 { 7F4E { ... } 5F37 } 42 5F37 }. */
static int cvreq_body(const uint8_t *cvreq, size_t len, tlv *body, smk_err *e)
{
	tlv auth, req;

	if (tlv_parse_exact(cvreq, len, 0x67, &auth, e) < 0 ||
	    tlv_parse(auth.value, auth.len, &req, e) < 0)
		return smk_context(e, "CV-REQ");
	if (req.tag != 0x7F21)
		return smk_fail(e, SMK_E_FORMAT, "CV-REQ: expected 7F21 inside 67, found %X",
				req.tag);
	if (tlv_parse(req.value, req.len, body, e) < 0)
		return smk_context(e, "CV-REQ");
	if (body->tag != 0x7F4E)
		return smk_fail(e, SMK_E_FORMAT, "CV-REQ: expected 7F4E body, found %X", body->tag);
	return 0;
}

/* A CHR or CAR of the CV-REQ as a C string: 1..16 bytes, no NUL. */
static int cvreq_text(const tlv *t, char out[17], const char *what, smk_err *e)
{
	if (t->len == 0 || t->len > 16)
		return smk_fail(e, SMK_E_FORMAT, "CV-REQ: %s of %zu bytes", what, t->len);
	memcpy(out, t->value, t->len);
	out[t->len] = '\0';
	if (strlen(out) != t->len)
		return smk_fail(e, SMK_E_FORMAT, "CV-REQ: %s contains a NUL byte", what);
	return 0;
}

int archive_cvreq_chr(const uint8_t *cvreq, size_t len, char out[17], smk_err *e)
{
	tlv body, chr;

	if (cvreq_body(cvreq, len, &body, e) < 0)
		return -1;
	if (tlv_find(body.value, body.len, 0x5F20, &chr, e) != 1)
		return smk_fail(e, SMK_E_FORMAT, "CV-REQ: no CHR (5F20)");
	return cvreq_text(&chr, out, "CHR", e);
}

int archive_cvreq_car(const uint8_t *cvreq, size_t len, char out[17], smk_err *e)
{
	tlv body, car;
	int found;

	if (cvreq_body(cvreq, len, &body, e) < 0)
		return -1;
	found = tlv_find(body.value, body.len, 0x42, &car, e);
	if (found < 0)
		return smk_context(e, "CV-REQ: inner CAR (42)");
	out[0] = '\0';
	if (found == 0)
		return 0;
	return cvreq_text(&car, out, "inner CAR", e);
}

/* The "key" member of a policy document: its type, and its curve or size. */
static int policy_key_members(const json_t *key, archive_policy_key *out, smk_err *e)
{
	const char *w = "policy document: key";
	const char *type, *curve;
	int64_t bits;

	if (archive_json_str(key, "type", &type, w, e) < 0)
		return -1;
	if (strcmp(type, "ec") == 0) {
		if (archive_json_str(key, "curve", &curve, w, e) < 0)
			return -1;
		if (strlen(curve) >= sizeof(out->curve))
			return smk_fail(e, SMK_E_FORMAT, "%s: curve name too long", w);
		snprintf(out->curve, sizeof(out->curve), "%s", curve);
		return 0;
	}
	if (strcmp(type, "rsa") == 0) {
		if (archive_json_int(key, "bits", 512, 16384, &bits, w, e) < 0)
			return -1;
		out->rsa = 1;
		out->bits = (unsigned)bits;
		return 0;
	}
	return smk_fail(e, SMK_E_FORMAT, "policy document: key type \"%s\" is not ec or rsa", type);
}

int archive_policy_key_of(const uint8_t *doc, size_t len, archive_policy_key *out, smk_err *e)
{
	json_t *o, *key;
	int64_t uc;
	int rc;

	memset(out, 0, sizeof(*out));
	if (archive_policy_algs(doc, len, out->algs, &out->alg_count, &uc, e) < 0 ||
	    archive_json_load(doc, len, &o, "policy document", e) < 0)
		return -1;
	rc = archive_json_obj(o, "key", &key, "policy document", e) < 0
		 ? -1
		 : policy_key_members(key, out, e);
	json_decref(o);
	return rc;
}

int archive_card_can_import(const archive_card_facts *c)
{
	size_t i;

	if (!c->domains_reported)
		return -1;
	for (i = 0; i < c->domain_count; i++) {
		const archive_key_domain *d = &c->domains[i];

		/* a domain set up in any state: outstanding shares can be
		 * imported later, so only "nothing set up" cannot import */
		if (d->kind != ARCHIVE_DOMAIN_EMPTY)
			return 1;
	}
	return 0;
}

static const char *const cvreq_source_names[] = {"gakp", "recovered", "ce"};
static const char *const domain_kind_names[] = {"empty", "dkek", "xkek"};
static const char *const alg_state_names[] = {"not-reported", "confirmed", "reported"};

const char *archive_cvreq_source_name(enum archive_cvreq_source s)
{
	return (unsigned)s < 3 ? cvreq_source_names[s] : "?";
}

const char *archive_domain_kind_name(enum archive_domain_kind k)
{
	return (unsigned)k < 3 ? domain_kind_names[k] : "?";
}

/* index of s in names[0..n), or -1 */
static int name_index(const char *s, const char *const *names, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* j is an integer from lo to hi. */
static int json_int_in(const json_t *j, json_int_t lo, json_int_t hi)
{
	return json_is_integer(j) && json_integer_value(j) >= lo && json_integer_value(j) <= hi;
}

/* An "alg-list-hex" member, where there is one, holds the list of
 * "algorithms" (algs, n). */
static int check_alg_list_hex(const json_t *o, const uint8_t *algs, size_t n, smk_err *e)
{
	const json_t *hex = json_object_get(o, "alg-list-hex");
	smk_buf from_hex = SMK_BUF_INIT;
	smk_err he;
	int same;

	if (!hex)
		return 0;
	same = json_is_string(hex) && smk_hex_decode(json_string_value(hex), &from_hex, &he) >= 0 &&
	       from_hex.len == n && memcmp(from_hex.data, algs, n) == 0;
	smk_buf_free(&from_hex);
	if (!same)
		return smk_fail(e, SMK_E_MISMATCH,
				"policy document: \"alg-list-hex\" differs from \"algorithms\"");
	return 0;
}

/* The members of a policy document that archive_policy_algs reads. */
static int policy_algs_members(const json_t *o, uint8_t algs[SMK_ALG_LIST_MAX], size_t *n,
			       int64_t *use_counter, smk_err *e)
{
	const json_t *list = json_object_get(o, "algorithms"), *item, *uc;
	size_t i;

	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > SMK_ALG_LIST_MAX)
		return smk_fail(e, SMK_E_FORMAT,
				"policy document: \"algorithms\" must list 1..%d entries",
				SMK_ALG_LIST_MAX);
	json_array_foreach(list, i, item)
	{
		json_t *id = json_is_object(item) ? json_object_get(item, "id") : NULL;

		if (!json_int_in(id, 0, 255))
			return smk_fail(e, SMK_E_FORMAT,
					"policy document: algorithm %zu has no id 0..255", i);
		algs[i] = (uint8_t)json_integer_value(id);
	}
	*n = json_array_size(list);
	if (check_alg_list_hex(o, algs, *n, e) < 0)
		return -1;
	uc = json_object_get(o, "use-counter");
	if (uc && !json_is_null(uc)) {
		if (!json_int_in(uc, 0, UINT32_MAX))
			return smk_fail(e, SMK_E_FORMAT, "policy document: bad \"use-counter\"");
		*use_counter = json_integer_value(uc);
	}
	return 0;
}

int archive_policy_algs(const uint8_t *doc, size_t len, uint8_t algs[SMK_ALG_LIST_MAX], size_t *n,
			int64_t *use_counter, smk_err *e)
{
	json_t *o;
	int rc;

	*n = 0;
	*use_counter = 0;
	if (archive_json_load(doc, len, &o, "policy document", e) < 0)
		return -1;
	rc = policy_algs_members(o, algs, n, use_counter, e);
	json_decref(o);
	return rc;
}

/* Split EF 2F02 into the DevAut certificate and the DICA certificate that
 * follows it (ref §4.4 step 2). */
static int split_chain(const uint8_t *p, size_t n, tlv *devaut, tlv *dica, smk_err *e)
{
	if (tlv_parse(p, n, devaut, e) < 0 || devaut->tag != 0x7F21)
		return smk_fail(e, SMK_E_FORMAT,
				"device chain: no DevAut certificate (7F21) first");
	if (tlv_parse_exact(p + devaut->raw_len, n - devaut->raw_len, 0x7F21, dica, e) < 0)
		return smk_context(e, "device chain: DICA certificate after the DevAut one");
	return 0;
}

static json_t *alg_names(const uint8_t *algs, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < n; i++) {
		const smk_alg *alg = alg_by_id(algs[i]);
		char unknown[16];

		snprintf(unknown, sizeof(unknown), "0x%02x", algs[i]);
		if (json_array_append_new(a, json_string(alg ? alg->name : unknown)) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* The card member of a format-2 record: what the card did and told
 * (docs/archive.md "Record format 2"). algs/nalg: the policy's list (kinds
 * key and archive-key), which a list the card reported must equal. */
static json_t *card_member(int adopted, const archive_card_facts *f, const char *car,
			   const uint8_t *algs, size_t nalg, smk_err *e)
{
	static const archive_card_facts nothing; /* GAKP answer, nothing reported */
	json_t *c = json_object(), *kd = json_object(), *list = json_array();
	int ok = 1, state;
	size_t i;

	if (!f)
		f = &nothing;
	if (!c || !kd || !list) {
		json_decref(c);
		json_decref(kd);
		json_decref(list);
		smk_fail(e, SMK_E_NOMEM, "record: out of memory");
		return NULL;
	}
	set(c, "key-domains", kd, &ok);
	set(kd, "domains", list, &ok);
	if (f->domain_count > ARCHIVE_DOMAINS_MAX || (!f->domains_reported && f->domain_count) ||
	    f->alg_count > ARCHIVE_ALG_LIST_MAX) {
		json_decref(c);
		smk_fail(e, SMK_E_ARG, "commit: card facts out of range");
		return NULL;
	}
	if (f->algs_reported && !adopted &&
	    (f->alg_count != nalg || memcmp(f->algs, algs, nalg) != 0)) {
		json_decref(c);
		smk_fail(e, SMK_E_MISMATCH,
			 "commit: the card reports an algorithm list other than the policy's: "
			 "not archived under that policy");
		return NULL;
	}
	state = !f->algs_reported ? 0 : adopted ? 2 : 1;
	set(c, "car", json_string(car), &ok);
	set(c, "cvreq",
	    json_string(archive_cvreq_source_name(adopted ? ARCHIVE_CVREQ_CE : f->cvreq_from)),
	    &ok);
	set(c, "algorithms", json_string(alg_state_names[state]), &ok);
	set(c, "alg-list", smk_json_b64(f->algs, f->algs_reported ? f->alg_count : 0), &ok);
	set(kd, "reported", json_boolean(f->domains_reported), &ok);
	/* optional: records of a device not relayed stay as they were */
	if (f->relayed)
		set(c, "relayed", json_true(), &ok);
	for (i = 0; ok && i < f->domain_count; i++) {
		const archive_key_domain *d = &f->domains[i];
		json_t *one = json_object();

		if (json_array_append_new(list, one) < 0) {
			ok = 0;
			break;
		}
		set(one, "index", json_integer(d->index), &ok);
		set(one, "kind", json_string(archive_domain_kind_name(d->kind)), &ok);
		set(one, "shares", json_integer(d->shares_total), &ok);
		set(one, "outstanding", json_integer(d->shares_outstanding), &ok);
		set(one, "kcv", smk_json_b64(d->kcv, d->has_kcv ? 8 : 0), &ok);
	}
	if (!ok) {
		json_decref(c);
		smk_fail(e, SMK_E_NOMEM, "record: out of memory");
		return NULL;
	}
	return c;
}

/* The device, sm, key, chr (and, but for adopted keys, policy) members of a
 * record of a key made on a device. */
static int key_members(json_t *o, const char *kind, const uint8_t digest[32],
		       const uint8_t *policy_doc, size_t policy_doc_len,
		       const archive_commit_req *req, smk_err *e)
{
	int adopted = strcmp(kind, ARCHIVE_KIND_ADOPTED) == 0, ok = 1;
	const char *label = req && req->label ? req->label : "";
	json_t *policy, *device, *sm, *key, *card;
	uint8_t algs[SMK_ALG_LIST_MAX];
	char chr[ARCHIVE_CHR_LEN + 1], car[17];
	int64_t use_counter;
	size_t nalg = 0;
	tlv devaut, dica;

	if (!req)
		return smk_fail(e, SMK_E_ARG, "commit: a %s record needs the card's answer", kind);
	/* a key made elsewhere may have no PrKD label, or one as long as the
	 * card listing keeps (127) */
	if ((!adopted || *label) && check_text(label, adopted ? 127 : 64, "commit: label", e) < 0)
		return -1;
	if (!req->cvreq || !req->spki || !req->device_chain)
		return smk_fail(e, SMK_E_ARG, "commit: CV-REQ, public key and device chain needed");
	if (split_chain(req->device_chain, req->device_chain_len, &devaut, &dica, e) < 0)
		return -1;
	if (adopted) {
		/* the CHR was chosen by whoever made the key: nothing to derive */
		if (archive_cvreq_chr(req->cvreq, req->cvreq_len, chr, e) < 0)
			return smk_context(e, "adopt");
	} else {
		if (archive_policy_algs(policy_doc, policy_doc_len, algs, &nalg, &use_counter, e) <
		    0)
			return -1;
		archive_chr_from_digest(digest, chr);
	}
	device = json_object();
	sm = json_object();
	key = json_object();
	set(o, "device", device, &ok);
	set(o, "sm", sm, &ok);
	set(o, "key", key, &ok);
	if (!adopted) {
		policy = json_object();
		set(o, "policy", policy, &ok);
		set(policy, "document", smk_json_b64(policy_doc, policy_doc_len), &ok);
		set(policy, "alg-list", smk_json_b64(algs, nalg), &ok);
		set(policy, "algorithms", alg_names(algs, nalg), &ok);
	}
	set(o, "chr", json_string(chr), &ok);
	set(device, "devaut", smk_json_b64(devaut.raw, devaut.raw_len), &ok);
	set(device, "dica", smk_json_b64(dica.raw, dica.raw_len), &ok);
	set(sm, "used", json_boolean(!adopted && req->sm_used), &ok);
	set(sm, "protocol",
	    json_string(adopted		   ? "none"
			: req->sm_protocol ? req->sm_protocol
			: req->sm_used	   ? ARCHIVE_SM_PROTOCOL
					   : "none"),
	    &ok);
	set(key, "label", json_string(label), &ok);
	set(key, "cvreq", smk_json_b64(req->cvreq, req->cvreq_len), &ok);
	set(key, "spki", smk_json_b64(req->spki, req->spki_len), &ok);
	if (!ok)
		return smk_fail(e, SMK_E_NOMEM, "record: out of memory");
	/* format 2: what the card did and told */
	if (archive_cvreq_car(req->cvreq, req->cvreq_len, car, e) < 0)
		return smk_context(e, "commit");
	if ((card = card_member(adopted, req->card, car, algs, nalg, e)) == NULL)
		return -1;
	set(o, "card", card, &ok);
	return ok ? 0 : smk_fail(e, SMK_E_NOMEM, "record: out of memory");
}

int archive_record_encode(const uint8_t *intent, size_t intent_len, const uint8_t *policy_doc,
			  size_t policy_doc_len, const archive_commit_req *req, uint64_t seq,
			  const uint8_t prev[32], int64_t time, smk_buf *out, smk_err *e)
{
	json_t *in = NULL, *o = NULL;
	uint8_t digest[32];
	archive_record check;
	size_t start = out->len;
	const char *kind;
	int ok = 1, rc = -1;

	if (archive_json_load_canonical(intent, intent_len, &in, "stored intent", e) < 0)
		return -1;
	kind = json_string_value(json_object_get(in, "kind"));
	if (!kind) {
		smk_fail(e, SMK_E_FORMAT, "stored intent: no kind");
		goto out;
	}
	if (smk_sha256(intent, intent_len, digest, e) < 0)
		goto out;
	o = json_object();
	/* record 0 is signed by itself (format 2); every later record is
	 * authenticated by the checkpoints that include it (format 3) */
	set(o, "format",
	    json_integer(seq == 0 ? ARCHIVE_RECORD_FORMAT_SIGNED : ARCHIVE_RECORD_FORMAT), &ok);
	set(o, "seq", json_integer((json_int_t)seq), &ok);
	set(o, "time", json_integer(time), &ok);
	set(o, "intent", json_incref(in), &ok);
	set(o, "intent-digest", smk_json_b64(digest, 32), &ok);
	set(o, "prev", smk_json_b64(prev, 32), &ok);
	if (!ok) {
		smk_fail(e, SMK_E_NOMEM, "record: out of memory");
		goto out;
	}
	/* a certificate record is its intent: the certificate and the key record
	 * it is for were fixed before the card write */
	if (strcmp(kind, ARCHIVE_KIND_SIGNATURE) == 0) {
		if (archive_sig_record_members(o, req, e) < 0)
			goto out;
	} else if (strcmp(kind, ARCHIVE_KIND_CERTIFICATE) != 0 &&
		   key_members(o, kind, digest, policy_doc, policy_doc_len, req, e) < 0) {
		goto out;
	}
	if (smk_json_canonical(o, out, e) < 0)
		goto out;
	if (archive_record_parse(out->data + start, out->len - start, &check, e) < 0) {
		out->len = start;
		smk_context(e, "record %llu would not read back", (unsigned long long)seq);
		goto out;
	}
	archive_record_free(&check);
	rc = 0;
out:
	json_decref(o);
	json_decref(in);
	return rc;
}

static const char *const record_keys[] = {"chr",	   "device", "format", "intent",
					  "intent-digest", "key",    "policy", "prev",
					  "seq",	   "sm",     "time",   NULL};
static const char *const adopted_record_keys[] = {
    "chr", "device", "format", "intent", "intent-digest", "key", "prev", "seq", "sm", "time", NULL};
static const char *const cert_record_keys[] = {"format", "intent", "intent-digest", "prev", "seq",
					       "time",	 NULL};
/* format 2: the same and "card" */
static const char *const record_keys_2[] = {
    "card", "chr", "device", "format", "intent", "intent-digest", "key", "policy",
    "prev", "seq", "sm",     "time",   NULL};
static const char *const adopted_record_keys_2[] = {
    "card", "chr",  "device", "format", "intent", "intent-digest",
    "key",  "prev", "seq",    "sm",	"time",	  NULL};
static const char *const card_keys[] = {"alg-list", "algorithms",  "car",
					"cvreq",    "key-domains", NULL};
static const char *const relayed_card_keys[] = {"alg-list",    "algorithms", "car", "cvreq",
						"key-domains", "relayed",    NULL};
static const char *const key_domains_keys[] = {"domains", "reported", NULL};
static const char *const domain_keys[] = {"index", "kcv", "kind", "outstanding", "shares", NULL};
static const char *const intent_keys[] = {"device", "format",	  "key-id", "kind", "peer",
					  "policy", "request-id", "time",   NULL};
static const char *const adopted_intent_keys[] = {"device", "format",	  "key-id", "kind",
						  "peer",   "request-id", "time",   NULL};
static const char *const cert_intent_keys[] = {"certificate", "device", "format", "key-id",
					       "key-record",  "kind",	"peer",	  "request-id",
					       "time",	      NULL};
static const char *const peer_keys[] = {"exe", "gid", "pid", "uid", NULL};
static const char *const intent_policy_keys[] = {"digest", "name", NULL};
static const char *const intent_device_keys[] = {"devaut-chr", "serial", NULL};
static const char *const cert_keys[] = {"der", "sha256", NULL};
static const char *const key_record_keys[] = {"hash", "seq", NULL};
static const char *const policy_keys[] = {"alg-list", "algorithms", "document", NULL};
static const char *const device_keys[] = {"devaut", "dica", NULL};
static const char *const sm_keys[] = {"protocol", "used", NULL};
static const char *const key_keys[] = {"cvreq", "label", "spki", NULL};

int archive_kind_has_key(const char *kind)
{
	return kind && (strcmp(kind, ARCHIVE_KIND_KEY) == 0 ||
			strcmp(kind, ARCHIVE_KIND_ARCHIVE_KEY) == 0 ||
			strcmp(kind, ARCHIVE_KIND_ADOPTED) == 0);
}

int archive_kind_names_key(const char *kind)
{
	return kind && (strcmp(kind, ARCHIVE_KIND_CERTIFICATE) == 0 ||
			strcmp(kind, ARCHIVE_KIND_SIGNATURE) == 0);
}

static int is_kind(const archive_record *r, const char *kind)
{
	return strcmp(r->kind, kind) == 0;
}

static int get_hash(json_t *o, const char *key, uint8_t out[32], const char *w, smk_err *e)
{
	smk_buf b = SMK_BUF_INIT;
	int rc = archive_json_bytes(o, key, &b, 32, w, e);

	if (rc == 0)
		memcpy(out, b.data, 32);
	smk_buf_free(&b);
	return rc;
}

/* certificate {der, sha256} and key-record {hash, seq} of a certificate intent */
static int parse_cert_members(json_t *in, archive_record *r, smk_err *e)
{
	json_t *cert, *keyrec;
	uint8_t digest[32];
	int64_t v;

	if (archive_json_obj(in, "certificate", &cert, "record: intent", e) < 0 ||
	    archive_json_keys(cert, cert_keys, "record: intent certificate", e) < 0 ||
	    archive_json_bytes(cert, "der", &r->cert, 0, "record: intent certificate", e) < 0 ||
	    get_hash(cert, "sha256", digest, "record: intent certificate", e) < 0)
		return -1;
	smk_hex_to(r->cert_fp, digest, 32, SMK_HEX_LOWER);
	if (archive_json_obj(in, "key-record", &keyrec, "record: intent", e) < 0 ||
	    archive_json_keys(keyrec, key_record_keys, "record: intent key-record", e) < 0 ||
	    archive_json_int(keyrec, "seq", 0, INT64_MAX, &v, "record: intent key-record", e) < 0 ||
	    get_hash(keyrec, "hash", r->key_record_hash, "record: intent key-record", e) < 0)
		return -1;
	r->key_seq = (uint64_t)v;
	return 0;
}

/* The members of an intent, by its kind. */
static const struct {
	const char *kind;
	const char *const *keys;
} intent_kinds[] = {
    {ARCHIVE_KIND_KEY, intent_keys},
    {ARCHIVE_KIND_ARCHIVE_KEY, intent_keys},
    {ARCHIVE_KIND_ADOPTED, adopted_intent_keys},
    {ARCHIVE_KIND_CERTIFICATE, cert_intent_keys},
    {ARCHIVE_KIND_SIGNATURE, archive_sig_intent_keys},
};

static const char *const *intent_kind_keys(const char *kind)
{
	size_t i;

	for (i = 0; i < sizeof(intent_kinds) / sizeof(intent_kinds[0]); i++)
		if (strcmp(kind, intent_kinds[i].kind) == 0)
			return intent_kinds[i].keys;
	return NULL;
}

static int parse_intent(json_t *in, archive_record *r, smk_err *e)
{
	json_t *peer, *policy, *device;
	const char *w = "record: intent";
	const char *const *keys;
	smk_buf digest = SMK_BUF_INIT;
	int64_t v;
	int rc;

	/* the kind decides which members there are */
	if (archive_json_str(in, "kind", &r->kind, w, e) < 0)
		return -1;
	keys = intent_kind_keys(r->kind);
	if (!keys)
		return smk_fail(e, SMK_E_FORMAT, "%s: unknown kind \"%s\"", w, r->kind);
	if (archive_json_keys(in, keys, w, e) < 0 ||
	    archive_json_int(in, "format", ARCHIVE_FORMAT, ARCHIVE_FORMAT, &v, w, e) < 0 ||
	    archive_json_str(in, "request-id", &r->request_id, w, e) < 0 ||
	    archive_json_int(in, "time", 0, INT64_MAX, &r->intent_time, w, e) < 0 ||
	    archive_json_int(in, "key-id", 1, 255, &v, w, e) < 0)
		return -1;
	r->key_id = (unsigned)v;
	w = "record: intent peer";
	if (archive_json_obj(in, "peer", &peer, "record: intent", e) < 0 ||
	    archive_json_keys(peer, peer_keys, w, e) < 0 ||
	    archive_json_int(peer, "uid", 0, UINT32_MAX, &v, w, e) < 0)
		return -1;
	r->uid = (uint32_t)v;
	if (archive_json_int(peer, "gid", 0, UINT32_MAX, &v, w, e) < 0)
		return -1;
	r->gid = (uint32_t)v;
	if (archive_json_int(peer, "pid", 0, INT64_MAX, &r->pid, w, e) < 0 ||
	    archive_json_str(peer, "exe", &r->exe, w, e) < 0)
		return -1;
	if (keys == intent_keys) {
		w = "record: intent policy";
		if (archive_json_obj(in, "policy", &policy, "record: intent", e) < 0 ||
		    archive_json_keys(policy, intent_policy_keys, w, e) < 0 ||
		    archive_json_str(policy, "name", &r->policy_name, w, e) < 0 ||
		    archive_json_bytes(policy, "digest", &digest, 32, w, e) < 0) {
			smk_buf_free(&digest);
			return -1;
		}
		memcpy(r->policy_digest, digest.data, 32);
		smk_buf_free(&digest);
	}
	if (keys == cert_intent_keys && parse_cert_members(in, r, e) < 0)
		return -1;
	if (keys == archive_sig_intent_keys && archive_sig_intent_parse(in, r, e) < 0)
		return -1;
	w = "record: intent device";
	rc = archive_json_obj(in, "device", &device, "record: intent", e) < 0 ||
	     archive_json_keys(device, intent_device_keys, w, e) < 0 ||
	     archive_json_str(device, "serial", &r->device_serial, w, e) < 0 ||
	     archive_json_str(device, "devaut-chr", &r->devaut_chr, w, e) < 0;
	return rc ? -1 : 0;
}

/* The policy that was applied: its document against the intent's digest,
 * the algorithm list against the document (kinds key and archive-key). */
static int check_policy(json_t *o, archive_record *r, smk_err *e)
{
	uint8_t digest[32], algs[SMK_ALG_LIST_MAX];
	json_t *names = json_object_get(json_object_get(o, "policy"), "algorithms");
	const char *doc_name;
	json_t *doc = NULL;
	size_t n, i;
	int rc;

	if (smk_sha256(r->policy_doc.data, r->policy_doc.len, digest, e) < 0)
		return -1;
	if (memcmp(digest, r->policy_digest, 32) != 0)
		return smk_fail(e, SMK_E_MISMATCH,
				"record: policy %s: digest does not match the policy document",
				r->policy_name);
	if (archive_policy_algs(r->policy_doc.data, r->policy_doc.len, algs, &n, &r->use_counter,
				e) < 0)
		return smk_context(e, "record: policy %s", r->policy_name);
	if (n != r->alg_count || memcmp(algs, r->alg_list, n) != 0)
		return smk_fail(
		    e, SMK_E_MISMATCH,
		    "record: policy %s: algorithm list differs from the policy document",
		    r->policy_name);
	if (!json_is_array(names) || json_array_size(names) != n)
		return smk_fail(e, SMK_E_FORMAT,
				"record: policy algorithm names do not match the list");
	for (i = 0; i < n; i++) {
		const smk_alg *alg = alg_by_id(algs[i]);
		json_t *name = json_array_get(names, i);

		if (!json_is_string(name) || !alg ||
		    strcmp(json_string_value(name), alg->name) != 0)
			return smk_fail(e, SMK_E_MISMATCH,
					"record: algorithm name %zu does not match byte 0x%02x", i,
					algs[i]);
	}
	if (archive_json_load(r->policy_doc.data, r->policy_doc.len, &doc, "policy document", e) <
	    0)
		return -1;
	rc = 0;
	if (archive_json_str(doc, "name", &doc_name, "policy document", e) == 0 &&
	    strcmp(doc_name, r->policy_name) != 0)
		rc = smk_fail(e, SMK_E_MISMATCH,
			      "record: policy name %s differs from the document's %s",
			      r->policy_name, doc_name);
	json_decref(doc);
	return rc;
}

/* A certificate record: one X.509 certificate, its SHA-256 as recorded, for
 * a key record that came before it. */
static int check_certificate(archive_record *r, smk_err *e)
{
	uint8_t digest[32];
	char hex[65];

	if (archive_cert_spki(r->cert.data, r->cert.len, &r->cert_spki, e) < 0)
		return smk_context(e, "record %llu: certificate", (unsigned long long)r->seq);
	if (smk_sha256(r->cert.data, r->cert.len, digest, e) < 0)
		return -1;
	smk_hex_to(hex, digest, 32, SMK_HEX_LOWER);
	if (strcmp(hex, r->cert_fp) != 0)
		return smk_fail(e, SMK_E_MISMATCH,
				"record %llu: certificate SHA-256 %s is not the recorded %s",
				(unsigned long long)r->seq, hex, r->cert_fp);
	if (r->key_seq >= r->seq)
		return smk_fail(
		    e, SMK_E_FORMAT,
		    "record %llu: certificate for key record %llu, which is not earlier",
		    (unsigned long long)r->seq, (unsigned long long)r->key_seq);
	return 0;
}

/* The SHA-256 of the intent's canonical bytes; legacy: as written before the
 * canonical form was JCS (upper-case \u escapes), which older records hold. */
static int intent_digest(const json_t *intent, int legacy, uint8_t digest[32], smk_err *e)
{
	smk_buf text = SMK_BUF_INIT;
	int rc;

	rc = (legacy ? smk_json_canonical_legacy(intent, &text, e)
		     : smk_json_canonical(intent, &text, e)) < 0 ||
	     smk_sha256(text.data, text.len, digest, e) < 0;
	smk_buf_free(&text);
	return rc ? -1 : 0;
}

/* Past the string at p[*i] ('"'); 0 at its end. */
static int skip_string(const uint8_t *p, size_t n, size_t *i)
{
	for (++*i; *i < n; ++*i) {
		if (p[*i] == '\\')
			++*i;
		else if (p[*i] == '"')
			return ++*i, 0;
	}
	return -1;
}

/* Past the value at p[*i] of compact JSON, to the ',', '}' or ']' after it. */
static int skip_value(const uint8_t *p, size_t n, size_t *i)
{
	unsigned depth = 0;

	while (*i < n) {
		uint8_t c = p[*i];

		if (c == '"') {
			if (skip_string(p, n, i) < 0)
				return -1;
		} else if (c == '{' || c == '[') {
			depth++;
			++*i;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return 0;
			depth--;
			++*i;
		} else if (c == ',' && depth == 0) {
			return 0;
		} else {
			++*i;
		}
	}
	return -1;
}

/* Where the value of the top-level member "intent" lies in the record's
 * bytes, which are canonical (compact JSON, each key once); -1 when it is
 * not found, and the caller encodes the intent instead. */
static int intent_bytes(const uint8_t *p, size_t n, size_t *off, size_t *len)
{
	static const char key[] = "\"intent\":";
	size_t i = 1;

	if (n == 0 || p[0] != '{')
		return -1;
	while (i < n && p[i] == '"') {
		size_t k = i;

		if (skip_string(p, n, &i) < 0 || i >= n || p[i] != ':')
			return -1;
		i++;
		if (i - k == sizeof(key) - 1 && memcmp(p + k, key, sizeof(key) - 1) == 0) {
			*off = i;
			if (skip_value(p, n, &i) < 0)
				return -1;
			*len = i - *off;
			return 0;
		}
		if (skip_value(p, n, &i) < 0 || i >= n || p[i] != ',')
			return -1;
		i++;
	}
	return -1;
}

/* The record's bytes are canonical (JCS or the older form: checked when
 * it was read), so the intent's bytes in them are its encoding in the same
 * form. 1 when their hash is the recorded digest (digest is set to it):
 * encoding the intent, in JCS and then in the older form, would have found
 * that digest too. 0: the caller encodes the intent and decides. */
static int intent_bytes_match(const archive_record *r, uint8_t digest[32])
{
	size_t off, len;
	smk_err e;

	return intent_bytes(r->canonical.data, r->canonical.len, &off, &len) == 0 &&
	       smk_sha256(r->canonical.data + off, len, digest, &e) == 0 &&
	       memcmp(digest, r->intent_digest, 32) == 0;
}

/* Everything that follows from the record's own bytes. */
static int check_consistency(json_t *o, archive_record *r, smk_err *e)
{
	const json_t *intent = json_object_get(o, "intent");
	uint8_t digest[32];
	char chr[ARCHIVE_CHR_LEN + 1], req_chr[17];
	size_t i;

	if (!intent_bytes_match(r, digest) && intent_digest(intent, 0, digest, e) < 0)
		return -1;
	if (memcmp(digest, r->intent_digest, 32) != 0 && intent_digest(intent, 1, digest, e) < 0)
		return -1;
	if (memcmp(digest, r->intent_digest, 32) != 0)
		return smk_fail(e, SMK_E_MISMATCH,
				"record: intent digest does not match the intent");
	if (is_kind(r, ARCHIVE_KIND_CERTIFICATE)) {
		if (check_certificate(r, e) < 0)
			return -1;
	} else if (is_kind(r, ARCHIVE_KIND_SIGNATURE)) {
		if (r->key_seq >= r->seq)
			return smk_fail(
			    e, SMK_E_FORMAT,
			    "record %llu: signature by key record %llu, which is not earlier",
			    (unsigned long long)r->seq, (unsigned long long)r->key_seq);
	} else if (is_kind(r, ARCHIVE_KIND_ADOPTED)) {
		/* no intent existed when the key was made: the CHR is whatever the
		 * maker chose, only the CV-REQ's own */
		if (archive_cvreq_chr(r->cvreq.data, r->cvreq.len, req_chr, e) < 0)
			return smk_context(e, "record");
		if (strcmp(req_chr, r->chr) != 0)
			return smk_fail(e, SMK_E_MISMATCH,
					"record: CHR %s is not the CV-REQ's (%s)", r->chr, req_chr);
		if (r->sm_used)
			return smk_fail(e, SMK_E_FORMAT,
					"record: an adopted key cannot have been made under our "
					"secure messaging");
	} else {
		archive_chr_from_digest(digest, chr);
		if (strcmp(chr, r->chr) != 0)
			return smk_fail(
			    e, SMK_E_MISMATCH,
			    "record: CHR %s is not the one derived from the intent (%s)", r->chr,
			    chr);
		if (archive_cvreq_chr(r->cvreq.data, r->cvreq.len, req_chr, e) < 0)
			return smk_context(e, "record");
		if (strcmp(req_chr, chr) != 0)
			return smk_fail(
			    e, SMK_E_MISMATCH,
			    "record: CV-REQ CHR \"%s\" does not commit to the intent (want %s)",
			    req_chr, chr);
		if (check_policy(o, r, e) < 0)
			return -1;
	}

	if ((r->seq == 0) != is_kind(r, ARCHIVE_KIND_ARCHIVE_KEY))
		return smk_fail(e, SMK_E_FORMAT,
				"record %llu: kind %s (the archive key is record 0 and only it)",
				(unsigned long long)r->seq, r->kind);
	for (i = 0; r->seq == 0 && i < 32; i++)
		if (r->prev[i])
			return smk_fail(e, SMK_E_FORMAT, "record 0: previous hash is not zero");
	return 0;
}

static int parse_policy(json_t *o, archive_record *r, smk_err *e)
{
	const char *w = "record: policy";
	smk_buf algs = SMK_BUF_INIT;
	json_t *policy;

	if (archive_json_obj(o, "policy", &policy, "record", e) < 0 ||
	    archive_json_keys(policy, policy_keys, w, e) < 0 ||
	    archive_json_bytes(policy, "document", &r->policy_doc, 0, w, e) < 0 ||
	    archive_json_bytes(policy, "alg-list", &algs, 0, w, e) < 0) {
		smk_buf_free(&algs);
		return -1;
	}
	if (algs.len == 0 || algs.len > SMK_ALG_LIST_MAX) {
		smk_fail(e, SMK_E_FORMAT, "%s: algorithm list of %zu bytes", w, algs.len);
		smk_buf_free(&algs);
		return -1;
	}
	memcpy(r->alg_list, algs.data, algs.len);
	r->alg_count = algs.len;
	smk_buf_free(&algs);
	return 0;
}

/* chr, device, sm and key: what the card answered for a key */
static int parse_key_members(json_t *o, archive_record *r, smk_err *e)
{
	json_t *device, *sm, *key;
	const char *w = "record: device";
	tlv t;

	if (archive_json_str(o, "chr", &r->chr, "record", e) < 0 ||
	    archive_json_obj(o, "device", &device, "record", e) < 0 ||
	    archive_json_keys(device, device_keys, w, e) < 0 ||
	    archive_json_bytes(device, "devaut", &r->devaut, 0, w, e) < 0 ||
	    archive_json_bytes(device, "dica", &r->dica, 0, w, e) < 0)
		return -1;
	if (tlv_parse_exact(r->devaut.data, r->devaut.len, 0x7F21, &t, e) < 0 ||
	    tlv_parse_exact(r->dica.data, r->dica.len, 0x7F21, &t, e) < 0)
		return smk_context(e, "record: device certificate");
	w = "record: sm";
	if (archive_json_obj(o, "sm", &sm, "record", e) < 0 ||
	    archive_json_keys(sm, sm_keys, w, e) < 0 ||
	    archive_json_bool(sm, "used", &r->sm_used, w, e) < 0 ||
	    archive_json_str(sm, "protocol", &r->sm_protocol, w, e) < 0)
		return -1;
	w = "record: key";
	if (archive_json_obj(o, "key", &key, "record", e) < 0 ||
	    archive_json_keys(key, key_keys, w, e) < 0 ||
	    archive_json_str(key, "label", &r->label, w, e) < 0 ||
	    archive_json_bytes(key, "cvreq", &r->cvreq, 0, w, e) < 0 ||
	    archive_json_bytes(key, "spki", &r->spki, 0, w, e) < 0)
		return -1;
	return 0;
}

/* A string member that must be one of names[0..n): its index. */
static int get_word(json_t *o, const char *key, const char *const *names, int n, int *v,
		    const char *w, smk_err *e)
{
	const char *s;

	if (archive_json_str(o, key, &s, w, e) < 0)
		return -1;
	*v = name_index(s, names, n);
	if (*v < 0)
		return smk_fail(e, SMK_E_FORMAT, "%s: \"%s\" is not a known %s", w, s, key);
	return 0;
}

/* One entry of card.key-domains.domains. */
static int parse_domain(json_t *one, archive_key_domain *d, smk_err *e)
{
	const char *w = "record: card key-domains domain";
	smk_buf kcv = SMK_BUF_INIT;
	int64_t v;
	int kind;

	if (!json_is_object(one))
		return smk_fail(e, SMK_E_FORMAT, "%s: not an object", w);
	if (archive_json_keys(one, domain_keys, w, e) < 0 ||
	    archive_json_int(one, "index", 0, 255, &v, w, e) < 0)
		return -1;
	d->index = (unsigned)v;
	if (get_word(one, "kind", domain_kind_names, 3, &kind, w, e) < 0)
		return -1;
	d->kind = (enum archive_domain_kind)kind;
	if (archive_json_int(one, "shares", 0, 255, &v, w, e) < 0)
		return -1;
	d->shares_total = (unsigned)v;
	if (archive_json_int(one, "outstanding", 0, 255, &v, w, e) < 0)
		return -1;
	d->shares_outstanding = (unsigned)v;
	if (archive_json_bytes(one, "kcv", &kcv, 0, w, e) < 0)
		return -1;
	if (kcv.len != 0 && kcv.len != 8) {
		size_t n = kcv.len;

		smk_buf_free(&kcv);
		return smk_fail(e, SMK_E_FORMAT, "%s %u: kcv of %zu bytes (0 or 8)", w, d->index,
				n);
	}
	d->has_kcv = kcv.len == 8;
	if (d->has_kcv)
		memcpy(d->kcv, kcv.data, 8);
	smk_buf_free(&kcv);
	if (d->shares_outstanding > d->shares_total)
		return smk_fail(e, SMK_E_FORMAT, "%s %u: %u of %u shares outstanding", w, d->index,
				d->shares_outstanding, d->shares_total);
	if (d->kind == ARCHIVE_DOMAIN_EMPTY && (d->shares_total || d->has_kcv))
		return smk_fail(e, SMK_E_FORMAT, "%s %u: shares or kcv on a %s domain", w, d->index,
				domain_kind_names[d->kind]);
	return 0;
}

/* card (format 2): what the card did and told, checked against the record's
 * own bytes: the CAR is the CV-REQ's, the source fits the kind, a reported
 * list equals the policy's (key kinds). */
static int parse_card(json_t *o, archive_record *r, smk_err *e)
{
	const char *w = "record: card";
	archive_card_facts *f = &r->card;
	json_t *card, *kd, *list, *one;
	smk_buf algs = SMK_BUF_INIT;
	char car[17];
	int v, adopted = is_kind(r, ARCHIVE_KIND_ADOPTED);
	size_t i;

	if (archive_json_obj(o, "card", &card, "record", e) < 0)
		return -1;
	f->relayed = json_object_get(card, "relayed") != NULL;
	if (archive_json_keys(card, f->relayed ? relayed_card_keys : card_keys, w, e) < 0 ||
	    archive_json_str(card, "car", &r->car, w, e) < 0)
		return -1;
	/* one spelling only: not relayed is the member's absence */
	if (f->relayed && !json_is_true(json_object_get(card, "relayed")))
		return smk_fail(e, SMK_E_FORMAT,
				"%s: \"relayed\" is not true (leave it out "
				"for a device not reached through a relay)",
				w);
	if (archive_cvreq_car(r->cvreq.data, r->cvreq.len, car, e) < 0)
		return smk_context(e, "record");
	if (strcmp(car, r->car) != 0)
		return smk_fail(e, SMK_E_MISMATCH, "%s: car \"%s\" is not the CV-REQ's (\"%s\")", w,
				r->car, car);
	if (get_word(card, "cvreq", cvreq_source_names, 3, &v, w, e) < 0)
		return -1;
	f->cvreq_from = (enum archive_cvreq_source)v;
	if (adopted != (f->cvreq_from == ARCHIVE_CVREQ_CE))
		return smk_fail(e, SMK_E_FORMAT, "%s: cvreq \"%s\" on a record of kind %s", w,
				cvreq_source_names[v], r->kind);
	if (get_word(card, "algorithms", alg_state_names, 3, &v, w, e) < 0 ||
	    archive_json_bytes(card, "alg-list", &algs, 0, w, e) < 0) {
		smk_buf_free(&algs);
		return -1;
	}
	f->algs_reported = v != 0;
	if (algs.len > ARCHIVE_ALG_LIST_MAX || (!f->algs_reported && algs.len)) {
		smk_fail(e, SMK_E_FORMAT, "%s: alg-list of %zu bytes with algorithms \"%s\"", w,
			 algs.len, alg_state_names[v]);
		smk_buf_free(&algs);
		return -1;
	}
	if (algs.len)
		memcpy(f->algs, algs.data, algs.len);
	f->alg_count = algs.len;
	smk_buf_free(&algs);
	/* key kinds: "confirmed" is the policy's list, as the card reported it;
	 * adopted: "reported" is whatever the card reported (no policy) */
	if (v == 2 && !adopted)
		return smk_fail(e, SMK_E_FORMAT,
				"%s: algorithms \"reported\" on a record of kind %s", w, r->kind);
	if (v == 1 && (adopted || f->alg_count != r->alg_count ||
		       memcmp(f->algs, r->alg_list, f->alg_count) != 0))
		return smk_fail(e, SMK_E_MISMATCH,
				"%s: algorithms \"confirmed\" but the list is not the policy's", w);
	w = "record: card key-domains";
	if (archive_json_obj(card, "key-domains", &kd, "record: card", e) < 0 ||
	    archive_json_keys(kd, key_domains_keys, w, e) < 0 ||
	    archive_json_bool(kd, "reported", &f->domains_reported, w, e) < 0)
		return -1;
	list = json_object_get(kd, "domains");
	if (!json_is_array(list))
		return smk_fail(e, SMK_E_FORMAT, "%s: \"domains\" is not an array", w);
	if (json_array_size(list) > ARCHIVE_DOMAINS_MAX ||
	    (!f->domains_reported && json_array_size(list) != 0))
		return smk_fail(e, SMK_E_FORMAT, "%s: %zu domains (reported %s, at most %d)", w,
				json_array_size(list), f->domains_reported ? "true" : "false",
				ARCHIVE_DOMAINS_MAX);
	json_array_foreach(list, i, one)
	{
		if (parse_domain(one, &f->domains[i], e) < 0)
			return -1;
		if (i > 0 && f->domains[i].index <= f->domains[i - 1].index)
			return smk_fail(e, SMK_E_FORMAT, "%s: domain %u after domain %u", w,
					f->domains[i].index, f->domains[i - 1].index);
	}
	f->domain_count = json_array_size(list);
	r->has_card = 1;
	return 0;
}

int archive_record_parse(const uint8_t *p, size_t n, archive_record *r, smk_err *e)
{
	const char *const *keys;
	const char *w = "record";
	json_t *o, *in;
	int64_t v;

	memset(r, 0, sizeof(*r));
	if (archive_json_load_canonical(p, n, &o, "record", e) < 0)
		return -1;
	r->json_ = o;
	if (smk_buf_add(&r->canonical, p, n) < 0) {
		smk_fail(e, SMK_E_NOMEM, "record: out of memory");
		goto fail;
	}
	if (smk_sha256(p, n, r->hash, e) < 0 || merkle_leaf_hash(p, n, r->leaf, e) < 0)
		goto fail;
	/* the intent's kind decides the record's members */
	if (archive_json_obj(o, "intent", &in, w, e) < 0 || parse_intent(in, r, e) < 0)
		goto fail;
	/* format 1, 2 for the kinds that hold a key, or 3 (no signature of its
	 * own; members as format 2, certificate records as format 1); the
	 * format decides the member set together with the kind */
	if (archive_json_int(o, "format", ARCHIVE_FORMAT, ARCHIVE_RECORD_FORMAT, &v, w, e) < 0)
		goto fail;
	r->format = (int)v;
	if (r->format == 2 && is_kind(r, ARCHIVE_KIND_CERTIFICATE)) {
		smk_fail(e, SMK_E_FORMAT,
			 "record: a certificate record is of format 1 or 3, not 2");
		goto fail;
	}
	if (r->format == ARCHIVE_RECORD_FORMAT && is_kind(r, ARCHIVE_KIND_ARCHIVE_KEY)) {
		smk_fail(e, SMK_E_FORMAT,
			 "record: the archive key's record 0 is signed by itself (format 1 or "
			 "2), not of format 3");
		goto fail;
	}
	if (r->format != ARCHIVE_RECORD_FORMAT && is_kind(r, ARCHIVE_KIND_SIGNATURE)) {
		smk_fail(e, SMK_E_FORMAT,
			 "record: a signature record is of format 3 (signature records came with "
			 "it)");
		goto fail;
	}
	keys = is_kind(r, ARCHIVE_KIND_SIGNATURE)     ? archive_sig_record_keys
	       : is_kind(r, ARCHIVE_KIND_CERTIFICATE) ? cert_record_keys
	       : is_kind(r, ARCHIVE_KIND_ADOPTED)
		   ? (r->format == 1 ? adopted_record_keys : adopted_record_keys_2)
	       : r->format == 1 ? record_keys
				: record_keys_2;
	if (archive_json_keys(o, keys, w, e) < 0 ||
	    archive_json_int(o, "seq", 0, INT64_MAX, &v, w, e) < 0)
		goto fail;
	r->seq = (uint64_t)v;
	if (archive_json_int(o, "time", 0, INT64_MAX, &r->time, w, e) < 0 ||
	    get_hash(o, "intent-digest", r->intent_digest, w, e) < 0 ||
	    get_hash(o, "prev", r->prev, w, e) < 0)
		goto fail;
	if ((keys == record_keys || keys == record_keys_2) && parse_policy(o, r, e) < 0)
		goto fail;
	if (keys == archive_sig_record_keys && archive_sig_record_parse(o, r, e) < 0)
		goto fail;
	if (keys == cert_record_keys || keys == archive_sig_record_keys) {
		/* nothing of a key here: the key is the key record's */
		r->chr = "";
		r->label = "";
		r->sm_protocol = "";
	} else if (parse_key_members(o, r, e) < 0) {
		goto fail;
	}
	if (check_consistency(o, r, e) < 0)
		goto fail;
	if (r->format == 1 || keys == cert_record_keys || keys == archive_sig_record_keys)
		r->car = "";
	else if (parse_card(o, r, e) < 0)
		goto fail;
	return 0;
fail:
	archive_record_free(r);
	return -1;
}

void archive_record_free(archive_record *r)
{
	smk_buf *const bufs[] = {&r->canonical, &r->policy_doc, &r->devaut, &r->dica,
				 &r->cvreq,	&r->spki,	&r->cert,   &r->cert_spki,
				 &r->sig_input, &r->sig_value};

	archive_bufs_free(bufs, sizeof(bufs) / sizeof(bufs[0]));
	json_decref(r->json_);
	memset(r, 0, sizeof(*r));
}

int archive_record_signed(const archive_record *r)
{
	return r->format < ARCHIVE_RECORD_FORMAT;
}
