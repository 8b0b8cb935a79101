/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The state file: everything that survives a power cycle (keys, files,
 * PINs and retry counters, key-use counters, the device key) as JSON, binary
 * values in hex. Written to a temporary file in the same directory, fsynced
 * and renamed over the old one, so a crash leaves the old or the new card,
 * never half of one. The file holds private keys: it is created mode 0600.
 */
#include "sim/sim_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hex.h"
#include "sm/alg.h"

#define STATE_FORMAT "smkey-sim-state-1"

json_t *sim_hex_json(const uint8_t *p, size_t n)
{
	char *h = smk_hex(p, n);
	json_t *j;

	if (h == NULL)
		return NULL;
	j = json_string(h);
	OPENSSL_cleanse(h, strlen(h));
	free(h);
	return j;
}

static json_t *key_json(const struct sim_key *k)
{
	json_t *o = json_object();
	unsigned char *der = NULL;
	int n = i2d_PrivateKey(k->pkey, &der);

	if (o == NULL || n <= 0) {
		json_decref(o);
		OPENSSL_free(der);
		return NULL;
	}
	json_object_set_new(o, "type", json_string(k->type == SMK_KEY_RSA ? "rsa" : "ec"));
	json_object_set_new(o, "private", sim_hex_json(der, (size_t)n));
	OPENSSL_clear_free(der, (size_t)n);
	if (k->n_algs)
		json_object_set_new(o, "algorithms", sim_hex_json(k->algs, k->n_algs));
	if (k->has_counter)
		json_object_set_new(o, "use_counter", json_integer(k->counter));
	if (k->has_domain)
		json_object_set_new(o, "domain", json_integer(k->domain));
	return o;
}

static json_t *state_json(const sim_card *c)
{
	json_t *o = json_object(), *pin = json_object(), *so = json_object();
	json_t *files = json_object(), *keys = json_object(), *doms = json_array();
	char name[8];
	size_t i;

	if (!o || !pin || !so || !files || !keys || !doms)
		goto fail;
	json_object_set_new(o, "format", json_string(STATE_FORMAT));
	json_object_set_new(o, "chr", json_string(c->chr));
	json_object_set_new(o, "initialized", json_boolean(c->initialized));
	json_object_set_new(o, "options", json_integer(c->options));
	json_object_set_new(pin, "value", sim_hex_json(c->pin, c->pin_len));
	json_object_set_new(pin, "max", json_integer(c->pin_max));
	json_object_set_new(pin, "left", json_integer(c->pin_left));
	json_object_set_new(pin, "transport", json_boolean(c->transport_pin));
	json_object_set_new(o, "pin", pin);
	pin = NULL;
	json_object_set_new(so, "value", sim_hex_json(c->sopin, sizeof(c->sopin)));
	json_object_set_new(so, "left", json_integer(c->so_left));
	json_object_set_new(o, "sopin", so);
	so = NULL;
	for (i = 0; i < c->n_domains; i++) {
		const struct sim_domain *d = &c->domains[i];
		json_t *dj = json_object();

		if (dj == NULL)
			goto fail;
		json_object_set_new(dj, "present", json_boolean(d->present));
		json_object_set_new(dj, "kind", json_string(d->xkek ? "xkek" : "dkek"));
		json_object_set_new(dj, "shares_total", json_integer(d->shares_total));
		json_object_set_new(dj, "shares_left", json_integer(d->shares_left));
		if (d->has_dkek)
			json_object_set_new(dj, "dkek", sim_hex_json(d->dkek, sizeof(d->dkek)));
		if (d->xkek)
			json_object_set_new(dj, "uid", sim_hex_json(d->uid, d->uid_len));
		json_array_append_new(doms, dj);
	}
	json_object_set_new(o, "domains", doms);
	doms = NULL;
	for (i = 0; i < c->n_files; i++) {
		snprintf(name, sizeof(name), "%04X", c->files[i].fid);
		json_object_set_new(files, name,
				    sim_hex_json(c->files[i].data.data, c->files[i].data.len));
	}
	json_object_set_new(o, "files", files);
	files = NULL;
	for (i = 0; i < 256; i++) {
		json_t *kj;

		if (c->keys[i] == NULL)
			continue;
		kj = key_json(c->keys[i]);
		if (kj == NULL)
			goto fail;
		snprintf(name, sizeof(name), "%zu", i);
		json_object_set_new(keys, name, kj);
	}
	json_object_set_new(o, "keys", keys);
	return o;
fail:
	json_decref(o);
	json_decref(pin);
	json_decref(so);
	json_decref(files);
	json_decref(keys);
	json_decref(doms);
	return NULL;
}

int sim_card_save(sim_card *c, const char *path, smk_err *e)
{
	json_t *o;
	char *tmp = NULL, *dircopy = NULL, *text = NULL;
	const char *dst = path ? path : c->state_path;
	size_t len, done = 0;
	int fd = -1, dfd, rc = -1;

	if (dst == NULL)
		return smk_fail(e, SMK_E_ARG, "state: no file to save to");
	o = state_json(c);
	if (o == NULL)
		return smk_fail(e, SMK_E_NOMEM, "state %s: cannot encode", dst);
	text = json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(o);
	/* one writer per process: a pid-named temporary file in the same
	 * directory (rename is atomic only within a file system) */
	if (text == NULL || asprintf(&tmp, "%s.tmp.%ld", dst, (long)getpid()) < 0) {
		tmp = NULL;
		smk_fail(e, SMK_E_NOMEM, "state %s: out of memory", dst);
		goto done;
	}
	unlink(tmp); /* left over by a crashed process that had our pid */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		smk_fail(e, SMK_E_IO, "state %s: cannot create temporary file: %s", dst,
			 strerror(errno));
		goto done;
	}
	len = strlen(text);
	while (done < len) {
		ssize_t w = write(fd, text + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			smk_fail(e, SMK_E_IO, "state %s: write: %s", tmp, strerror(errno));
			goto done;
		}
		done += (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		smk_fail(e, SMK_E_IO, "state %s: fsync: %s", tmp, strerror(errno));
		goto done;
	}
	fd = -1;
	if (rename(tmp, dst) < 0) {
		smk_fail(e, SMK_E_IO, "state %s: rename: %s", dst, strerror(errno));
		goto done;
	}
	/* make the rename itself durable */
	dircopy = strdup(dst);
	if (dircopy && (dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	if (dst != c->state_path) {
		char *keep = strdup(dst);

		if (keep == NULL) {
			smk_fail(e, SMK_E_NOMEM, "state %s: out of memory", dst);
			goto done;
		}
		free(c->state_path);
		c->state_path = keep;
	}
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp)
		unlink(tmp);
	free(tmp);
	free(dircopy);
	if (text) {
		OPENSSL_cleanse(text, strlen(text));
		free(text);
	}
	return rc;
}

/* ---- loading: the file is input like any other, checked field by field */

int sim_json_hex(json_t *o, const char *key, smk_buf *out, size_t min, size_t max, smk_err *e)
{
	json_t *j = json_object_get(o, key);

	if (!json_is_string(j))
		return smk_fail(e, SMK_E_FORMAT, "%s: missing or not a string", key);
	smk_buf_reset(out);
	if (smk_hex_decode(json_string_value(j), out, e) < 0)
		return smk_context(e, "%s", key);
	if (out->len < min || out->len > max)
		return smk_fail(e, SMK_E_FORMAT, "%s: %zu bytes, expected %zu..%zu", key, out->len,
				min, max);
	return 0;
}

static int get_uint(json_t *o, const char *key, unsigned long max, unsigned long *v, smk_err *e)
{
	json_t *j = json_object_get(o, key);

	if (!json_is_integer(j) || json_integer_value(j) < 0 ||
	    (unsigned long long)json_integer_value(j) > max)
		return smk_fail(e, SMK_E_FORMAT, "%s: missing or not an integer in 0..%lu", key,
				max);
	*v = (unsigned long)json_integer_value(j);
	return 0;
}

/* get_uint for the one-byte counters and numbers of the state. */
static int get_u8(json_t *o, const char *key, uint8_t max, uint8_t *out, smk_err *e)
{
	unsigned long v = 0; /* set by get_uint on success; gcc -O3 cannot see it */

	if (get_uint(o, key, max, &v, e) < 0)
		return -1;
	*out = (uint8_t)v;
	return 0;
}

static int load_key(sim_card *c, const char *name, json_t *kj, smk_err *e)
{
	smk_buf b = SMK_BUF_INIT;
	struct sim_key *k = NULL;
	const unsigned char *p;
	unsigned long id, v;
	const char *type;
	char *end;
	int rc = -1;

	b.secret = 1;
	errno = 0;
	id = strtoul(name, &end, 10);
	if (*name == '\0' || *end != '\0' || id > 255 || errno)
		return smk_fail(e, SMK_E_FORMAT, "key \"%s\": id must be 0..255", name);
	if (!json_is_object(kj))
		return smk_fail(e, SMK_E_FORMAT, "key %lu: not an object", id);
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return smk_fail(e, SMK_E_NOMEM, "key %lu: out of memory", id);
	k->id = (uint8_t)id;
	type = json_string_value(json_object_get(kj, "type"));
	if (type && strcmp(type, "ec") == 0) {
		k->type = SMK_KEY_EC;
	} else if (type && strcmp(type, "rsa") == 0) {
		k->type = SMK_KEY_RSA;
	} else {
		smk_fail(e, SMK_E_FORMAT, "type must be \"ec\" or \"rsa\"");
		goto done;
	}
	if (sim_json_hex(kj, "private", &b, 1, 8192, e) < 0)
		goto done;
	p = b.data;
	k->pkey = d2i_AutoPrivateKey(NULL, &p, (long)b.len);
	if (k->pkey == NULL || p != b.data + b.len ||
	    EVP_PKEY_get_base_id(k->pkey) != (k->type == SMK_KEY_EC ? EVP_PKEY_EC : EVP_PKEY_RSA)) {
		smk_fail(e, SMK_E_FORMAT, "private: not a %s private key", type);
		goto done;
	}
	if (json_object_get(kj, "algorithms")) {
		if (sim_json_hex(kj, "algorithms", &b, 1, SMK_ALG_LIST_MAX, e) < 0)
			goto done;
		memcpy(k->algs, b.data, b.len);
		k->n_algs = b.len;
	}
	if (json_object_get(kj, "use_counter")) {
		if (get_uint(kj, "use_counter", 0xFFFFFFFFUL, &v, e) < 0)
			goto done;
		k->has_counter = true;
		k->counter = (uint32_t)v;
	}
	if (json_object_get(kj, "domain")) {
		if (get_u8(kj, "domain", SIM_MAX_DOMAINS - 1, &k->domain, e) < 0)
			goto done;
		k->has_domain = true;
	}
	sim_key_free(c->keys[id]);
	c->keys[id] = k;
	k = NULL;
	rc = 0;
done:
	if (rc < 0)
		smk_context(e, "key %lu", id);
	sim_key_free(k);
	smk_buf_free(&b);
	return rc;
}

static int load_files(sim_card *c, json_t *files, smk_err *e)
{
	smk_buf b = SMK_BUF_INIT;
	const char *name;
	json_t *v;

	if (!json_is_object(files))
		return smk_fail(e, SMK_E_FORMAT, "files: not an object");
	json_object_foreach(files, name, v)
	{
		char *end;
		unsigned long fid = strtoul(name, &end, 16);

		if (strlen(name) != 4 || *end != '\0' || fid == 0 || fid >> 8 == SIM_PFX_KEY ||
		    !json_is_string(v)) {
			smk_buf_free(&b);
			return smk_fail(e, SMK_E_FORMAT, "files: bad entry \"%s\"", name);
		}
		smk_buf_reset(&b);
		if (smk_hex_decode(json_string_value(v), &b, e) < 0 || b.len > 0x8000 ||
		    sim_file_put(c, (uint16_t)fid, b.data, b.len) < 0) {
			smk_buf_free(&b);
			return smk_fail(e, SMK_E_FORMAT, "files: EF %s unreadable or too large",
					name);
		}
	}
	smk_buf_free(&b);
	return 0;
}

static int load_state(sim_card *c, json_t *o, smk_err *e)
{
	smk_buf b = SMK_BUF_INIT;
	json_t *pin, *so, *doms, *keys, *kj, *j;
	const char *kind;
	const char *fmt, *chr, *name;
	unsigned long v = 0;
	size_t i;
	int rc = -1;

	b.secret = 1;
	fmt = json_string_value(json_object_get(o, "format"));
	if (fmt == NULL || strcmp(fmt, STATE_FORMAT) != 0)
		return smk_fail(e, SMK_E_FORMAT, "format: expected \"%s\"", STATE_FORMAT);
	chr = json_string_value(json_object_get(o, "chr"));
	if (chr == NULL || strlen(chr) >= sizeof(c->chr))
		return smk_fail(e, SMK_E_FORMAT, "chr: missing or longer than 16");
	strcpy(c->chr, chr);
	j = json_object_get(o, "initialized");
	if (!json_is_boolean(j))
		return smk_fail(e, SMK_E_FORMAT, "initialized: not a boolean");
	c->initialized = json_is_true(j);
	if (get_uint(o, "options", 0xFFFF, &v, e) < 0)
		return -1;
	c->options = (uint16_t)v;
	pin = json_object_get(o, "pin");
	so = json_object_get(o, "sopin");
	if (!json_is_object(pin) || !json_is_object(so))
		return smk_fail(e, SMK_E_FORMAT, "pin/sopin: not objects");
	if (c->initialized) {
		if (sim_json_hex(pin, "value", &b, 6, 16, e) < 0)
			goto done;
		memcpy(c->pin, b.data, b.len);
		c->pin_len = b.len;
		if (sim_json_hex(so, "value", &b, 8, 8, e) < 0)
			goto done;
		memcpy(c->sopin, b.data, 8);
	}
	if (get_u8(pin, "max", 15, &c->pin_max, e) < 0 ||
	    get_u8(pin, "left", c->pin_max, &c->pin_left, e) < 0)
		goto done;
	c->transport_pin = json_is_true(json_object_get(pin, "transport"));
	if (get_u8(so, "left", 15, &c->so_left, e) < 0)
		goto done;
	doms = json_object_get(o, "domains");
	if (!json_is_array(doms) || json_array_size(doms) > SIM_MAX_DOMAINS) {
		smk_fail(e, SMK_E_FORMAT, "domains: not an array of at most %d", SIM_MAX_DOMAINS);
		goto done;
	}
	c->n_domains = (uint8_t)json_array_size(doms);
	json_array_foreach(doms, i, j)
	{
		struct sim_domain *d = &c->domains[i];

		if (!json_is_object(j) || get_u8(j, "shares_total", 255, &d->shares_total, e) < 0 ||
		    get_u8(j, "shares_left", d->shares_total, &d->shares_left, e) < 0)
			goto done;
		d->present = json_is_true(json_object_get(j, "present"));
		kind = json_string_value(json_object_get(j, "kind"));
		if (kind != NULL && strcmp(kind, "dkek") != 0 && strcmp(kind, "xkek") != 0) {
			smk_fail(e, SMK_E_FORMAT, "domains: %zu: kind is not dkek or xkek", i);
			goto done;
		}
		d->xkek = kind != NULL && strcmp(kind, "xkek") == 0;
		/* "kcv" of older state files held no key: the DKEK starts again */
		if (json_object_get(j, "dkek")) {
			if (sim_json_hex(j, "dkek", &b, SIM_DKEK_LEN, SIM_DKEK_LEN, e) < 0)
				goto done;
			memcpy(d->dkek, b.data, SIM_DKEK_LEN);
			d->has_dkek = true;
		}
		if (d->xkek) {
			if (sim_json_hex(j, "uid", &b, 1, SIM_UID_MAX, e) < 0)
				goto done;
			memcpy(d->uid, b.data, b.len);
			d->uid_len = b.len;
		}
	}
	if (load_files(c, json_object_get(o, "files"), e) < 0)
		goto done;
	keys = json_object_get(o, "keys");
	if (!json_is_object(keys)) {
		smk_fail(e, SMK_E_FORMAT, "keys: not an object");
		goto done;
	}
	json_object_foreach(keys, name, kj)
	{
		if (load_key(c, name, kj, e) < 0)
			goto done;
	}
	rc = 0;
done:
	smk_buf_free(&b);
	return rc;
}

sim_card *sim_card_load(const char *path, smk_err *e)
{
	json_error_t je;
	json_t *o;
	sim_card *c;

	o = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (o == NULL) {
		smk_fail(e, SMK_E_IO, "state %s:%d:%d: %s", path, je.line, je.column, je.text);
		return NULL;
	}
	c = sim_card_new();
	if (c == NULL) {
		json_decref(o);
		smk_fail(e, SMK_E_NOMEM, "state %s: out of memory", path);
		return NULL;
	}
	if (!json_is_object(o) || load_state(c, o, e) < 0) {
		if (!json_is_object(o))
			smk_fail(e, SMK_E_FORMAT, "not a JSON object");
		smk_context(e, "state %s", path);
		json_decref(o);
		sim_card_free(c);
		return NULL;
	}
	json_decref(o);
	c->state_path = strdup(path);
	if (c->state_path == NULL) {
		sim_card_free(c);
		smk_fail(e, SMK_E_NOMEM, "state %s: out of memory", path);
		return NULL;
	}
	return c;
}
