/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkeyd.yaml: from the node tree to a config. Every message names the file,
 * line and column and says what would be right, as policy files do.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/file.h"
#include "../common/user.h"
#include "../common/yaml.h"

#define SERIAL_MAX 16 /* a DevAut CHR (ref §4.2) */
#define CREDENTIAL_NAME_MAX 128
#define GROUP_NAME_MAX 256
#define ADMIN_GROUPS_MAX 32

static const char *const top_keys[] = {
    "socket", "archive",      "policies",  "trust",	   "archive-key",  "devices", "limits",
    "retry",  "admin-groups", "witnesses", "witness-user", "idle-release", NULL,
};
static const char *const device_keys[] = {"reader",  "serial",	       "pin-file", "pin-credential",
					  "relayed", "idle-release-s", NULL};
static const char *const limit_keys[] = {
    "queue",
    "message-size",
    "clients",
    "clients-per-uid",
    "request-timeout-ms",
    "idle-timeout-ms",
    "checkpoint-hold-ms",
    "signature-hold-ms",
    NULL,
};
static const char *const retry_keys[] = {"min", "max", NULL};
static const char *const idle_release_keys[] = {"after-s", "wait-s", NULL};
static const char *const archive_key_keys[] = {"device", NULL};
static const char *const witness_keys[] = {"key", "url", NULL};

struct ctx {
	smk_ydoc d;
	char dir[PATH_MAX]; /* directory of the config file, for relative paths */
	config *c;
	smk_err *e;
};

static char *dup_or_fail(const char *s, smk_err *e)
{
	char *d = strdup(s);

	if (d == NULL)
		smk_fail(e, SMK_E_NOMEM, "out of memory");
	return d;
}

/* A path value; relative ones are made absolute against the config's directory. */
static int get_path(struct ctx *x, const smk_ynode *n, const char *what, char **out)
{
	const char *s;
	char buf[PATH_MAX];

	if (smk_yval_string(&x->d, n, what, &s, x->e) < 0)
		return -1;
	if (s[0] == '/') {
		if (strlen(s) >= sizeof(buf))
			return smk_yaml_fail_at(&x->d, x->e, n, "%s is longer than %d bytes", what,
						PATH_MAX - 1);
		*out = dup_or_fail(s, x->e);
	} else {
		if ((size_t)snprintf(buf, sizeof(buf), "%s/%s", x->dir, s) >= sizeof(buf))
			return smk_yaml_fail_at(&x->d, x->e, n, "%s is longer than %d bytes", what,
						PATH_MAX - 1);
		*out = dup_or_fail(buf, x->e);
	}
	return *out ? 0 : -1;
}

static const smk_ynode *require(struct ctx *x, const smk_ynode *map, const char *key,
				const char *hint)
{
	const smk_ynode *n = smk_yval_get(map, key);

	if (n == NULL)
		smk_yaml_fail_at(&x->d, x->e, map, "\"%s\" is missing; %s", key, hint);
	return n;
}

/* A DevAut serial or CHR: upper-case letters and digits, 2..16 characters. */
static int get_serial(struct ctx *x, const smk_ynode *n, const char *what, char **out)
{
	const char *s;
	size_t len, i;

	if (smk_yval_string(&x->d, n, what, &s, x->e) < 0)
		return -1;
	len = strlen(s);
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			break;
	if (len < 2 || len > SERIAL_MAX || i != len)
		return smk_yaml_fail_at(&x->d, x->e, n,
					"%s \"%s\" is not a device serial; write it as on the "
					"device certificate, e.g. DENK0404144 (upper-case letters "
					"and digits, at most %d)",
					what, s, SERIAL_MAX);
	*out = dup_or_fail(s, x->e);
	return *out ? 0 : -1;
}

/* list, the value of key, as a YAML list of at most max items (what names
 * them in the message). */
static int bounded_list(struct ctx *x, const smk_ynode *list, const char *key, int max,
			const char *what)
{
	if (smk_yval_list(&x->d, list, key, x->e) < 0)
		return -1;
	if (list->n > (size_t)max)
		return smk_yaml_fail_at(&x->d, x->e, list->items[max], "more than %d %s", max,
					what);
	return 0;
}

static int get_uint(struct ctx *x, const smk_ynode *map, const char *key, uint64_t min,
		    uint64_t max, unsigned *out);

static int load_device(struct ctx *x, const smk_ynode *n, config_device *dev)
{
	const smk_ynode *v;
	const char *s;

	dev->line = n->line;
	dev->col = n->col;
	if (smk_yval_map(&x->d, n, "a devices entry", x->e) < 0 ||
	    smk_yval_known_keys(&x->d, n, device_keys, "in a devices entry", x->e) < 0)
		return -1;
	if ((v = smk_yval_get(n, "reader")) != NULL) {
		if (smk_yval_string(&x->d, v, "reader", &s, x->e) < 0)
			return -1;
		if ((dev->reader = dup_or_fail(s, x->e)) == NULL)
			return -1;
	}
	if ((v = smk_yval_get(n, "serial")) != NULL && get_serial(x, v, "serial", &dev->serial) < 0)
		return -1;
	if (dev->reader == NULL && dev->serial == NULL)
		return smk_yaml_fail_at(&x->d, x->e, n,
					"a device needs \"reader\" (a reader name pattern such as "
					"\"Nitrokey*\"), \"serial\", or both");
	if ((v = smk_yval_get(n, "pin-file")) != NULL &&
	    get_path(x, v, "pin-file", &dev->pin_file) < 0)
		return -1;
	if ((v = smk_yval_get(n, "pin-credential")) != NULL) {
		if (smk_yval_string(&x->d, v, "pin-credential", &s, x->e) < 0)
			return -1;
		if (strchr(s, '/') || s[0] == '.' || strlen(s) > CREDENTIAL_NAME_MAX)
			return smk_yaml_fail_at(&x->d, x->e, v,
						"pin-credential \"%s\" must be a credential name "
						"as in LoadCredential=NAME:..., not a path",
						s);
		if ((dev->pin_credential = dup_or_fail(s, x->e)) == NULL)
			return -1;
	}
	if ((dev->pin_file != NULL) == (dev->pin_credential != NULL))
		return smk_yaml_fail_at(&x->d, x->e, n,
					"a device needs exactly one of \"pin-file\" (a file "
					"holding the user PIN) and \"pin-credential\" (a systemd "
					"credential name)");
	/* a relayed device is named by its verified DevAut serial: the reader
	 * it shows up in is whatever the relay's host says */
	if ((v = smk_yval_get(n, "relayed")) != NULL &&
	    smk_yval_bool(&x->d, v, "relayed", &dev->relayed, x->e) < 0)
		return -1;
	if ((v = smk_yval_get(n, "idle-release-s")) != NULL) {
		if (get_uint(x, n, "idle-release-s", 0, 86400, &dev->idle_release_s) < 0)
			return -1;
		dev->idle_release_set = 1;
	}
	if (dev->relayed && dev->serial == NULL)
		return smk_yaml_fail_at(
		    &x->d, x->e, n,
		    "a relayed device needs \"serial\" (its DevAut serial, e.g. "
		    "DENK0404144): it is known by its verified device "
		    "certificate, never by the reader or the host it comes from");
	return 0;
}

static int load_devices(struct ctx *x, const smk_ynode *root)
{
	const smk_ynode *list = require(x, root, "devices",
					"list the HSMs, e.g. devices: [{reader: \"*\", "
					"pin-credential: hsm-pin}]");
	size_t i, j;

	if (list == NULL)
		return -1;
	/* no device means no archive key and no Generate, ever: refuse it here
	 * rather than start a daemon that can only answer DeviceUnavailable */
	if (list->kind == SMK_YNODE_SEQ && list->n == 0)
		return smk_yaml_fail_at(&x->d, x->e, list,
					"devices is an empty list; at least one device is needed, "
					"e.g. devices: [{reader: \"*\", pin-file: pin}] for any "
					"reader");
	if (bounded_list(x, list, "devices", CONFIG_DEVICES_MAX, "devices") < 0)
		return -1;
	x->c->devices = calloc(list->n, sizeof(*x->c->devices));
	if (x->c->devices == NULL)
		return smk_fail(x->e, SMK_E_NOMEM, "out of memory");
	x->c->device_count = list->n;
	for (i = 0; i < list->n; i++) {
		config_device *dev = &x->c->devices[i];

		if (load_device(x, list->items[i], dev) < 0)
			return -1;
		for (j = 0; j < i; j++) {
			const config_device *o = &x->c->devices[j];

			if (dev->serial && o->serial && strcmp(dev->serial, o->serial) == 0)
				return smk_yaml_fail_at(&x->d, x->e, list->items[i],
							"device %s is listed twice (first at "
							"%u:%u)",
							dev->serial, o->line, o->col);
			if (!dev->serial && !o->serial && strcmp(dev->reader, o->reader) == 0)
				return smk_yaml_fail_at(&x->d, x->e, list->items[i],
							"reader \"%s\" is listed twice (first at "
							"%u:%u); add a serial to tell them apart",
							dev->reader, o->line, o->col);
		}
	}
	return 0;
}

static int get_uint(struct ctx *x, const smk_ynode *map, const char *key, uint64_t min,
		    uint64_t max, unsigned *out)
{
	const smk_ynode *n = smk_yval_get(map, key);
	uint64_t v;

	if (n == NULL)
		return 0;
	if (smk_yval_uint(&x->d, n, key, min, max, &v, x->e) < 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int load_limits(struct ctx *x, const smk_ynode *root)
{
	const smk_ynode *n = smk_yval_get(root, "limits");
	config_limits *l = &x->c->limits;

	if (n == NULL)
		return 0;
	if (smk_yval_map(&x->d, n, "limits", x->e) < 0 ||
	    smk_yval_known_keys(&x->d, n, limit_keys, "in limits", x->e) < 0 ||
	    get_uint(x, n, "queue", 1, 1024, &l->queue) < 0 ||
	    get_uint(x, n, "message-size", 1024, 16 * 1024 * 1024, &l->message_size) < 0 ||
	    get_uint(x, n, "clients", 1, 4096, &l->clients) < 0 ||
	    get_uint(x, n, "clients-per-uid", 1, 4096, &l->clients_per_uid) < 0 ||
	    get_uint(x, n, "request-timeout-ms", 100, 600000, &l->request_timeout_ms) < 0 ||
	    get_uint(x, n, "idle-timeout-ms", 0, 86400000, &l->idle_timeout_ms) < 0 ||
	    get_uint(x, n, "checkpoint-hold-ms", 0, 10000, &l->checkpoint_hold_ms) < 0 ||
	    get_uint(x, n, "signature-hold-ms", 0, 60000, &l->signature_hold_ms) < 0)
		return -1;
	return 0;
}

static int load_retry(struct ctx *x, const smk_ynode *root)
{
	const smk_ynode *n = smk_yval_get(root, "retry");

	if (n == NULL)
		return 0;
	if (smk_yval_map(&x->d, n, "retry", x->e) < 0 ||
	    smk_yval_known_keys(&x->d, n, retry_keys, "in retry", x->e) < 0 ||
	    get_uint(x, n, "min", 1, 3600, &x->c->retry_min_s) < 0 ||
	    get_uint(x, n, "max", 1, 86400, &x->c->retry_max_s) < 0)
		return -1;
	if (x->c->retry_max_s < x->c->retry_min_s)
		return smk_yaml_fail_at(&x->d, x->e, n,
					"retry max (%u s) is below retry min (%u s)",
					x->c->retry_max_s, x->c->retry_min_s);
	return 0;
}

/* idle-release: {after-s, wait-s}: the default for devices that do not set
 * idle-release-s, and how long a job waits to take a released card back. */
static int load_idle_release(struct ctx *x, const smk_ynode *root)
{
	const smk_ynode *n = smk_yval_get(root, "idle-release");
	size_t i;

	if (n != NULL &&
	    (smk_yval_map(&x->d, n, "idle-release", x->e) < 0 ||
	     smk_yval_known_keys(&x->d, n, idle_release_keys, "in idle-release", x->e) < 0 ||
	     get_uint(x, n, "after-s", 0, 86400, &x->c->idle_release_s) < 0 ||
	     get_uint(x, n, "wait-s", 1, 3600, &x->c->idle_release_wait_s) < 0))
		return -1;
	for (i = 0; i < x->c->device_count; i++)
		if (!x->c->devices[i].idle_release_set)
			x->c->devices[i].idle_release_s = x->c->idle_release_s;
	return 0;
}

static int load_archive_key(struct ctx *x, const smk_ynode *root)
{
	const smk_ynode *n = smk_yval_get(root, "archive-key"), *v;
	size_t i;

	if (n == NULL)
		return 0;
	if (smk_yval_map(&x->d, n, "archive-key", x->e) < 0 ||
	    smk_yval_known_keys(&x->d, n, archive_key_keys, "in archive-key", x->e) < 0)
		return -1;
	if ((v = smk_yval_get(n, "device")) == NULL)
		return 0;
	if (get_serial(x, v, "archive-key device", &x->c->archive_key_device) < 0)
		return -1;
	/* a named device must be one the daemon may open at all */
	for (i = 0; i < x->c->device_count; i++)
		if (x->c->devices[i].serial == NULL ||
		    strncmp(x->c->devices[i].serial, x->c->archive_key_device,
			    strlen(x->c->devices[i].serial)) == 0 ||
		    strncmp(x->c->archive_key_device, x->c->devices[i].serial,
			    strlen(x->c->archive_key_device)) == 0)
			return 0;
	return smk_yaml_fail_at(&x->d, x->e, v,
				"archive-key device %s is not among the devices; list it there or "
				"remove this line",
				x->c->archive_key_device);
}

/* admin-groups: [name, ...], each an existing group, none twice. */
static int load_admin_groups(struct ctx *x, const smk_ynode *root)
{
	const smk_ynode *list = smk_yval_get(root, "admin-groups");
	config *c = x->c;
	const char *s;
	size_t i, j;
	int found, err = 0;

	if (list == NULL)
		return 0;
	if (bounded_list(x, list, "admin-groups", ADMIN_GROUPS_MAX, "admin groups") < 0)
		return -1;
	c->admin_groups = calloc(list->n + 1, sizeof(*c->admin_groups));
	c->admin_gids = calloc(list->n + 1, sizeof(*c->admin_gids));
	if (c->admin_groups == NULL || c->admin_gids == NULL)
		return smk_fail(x->e, SMK_E_NOMEM, "out of memory");
	for (i = 0; i < list->n; i++) {
		const smk_ynode *item = list->items[i];

		if (smk_yval_string(&x->d, item, "an admin group", &s, x->e) < 0)
			return -1;
		if (s[0] == '\0' || strlen(s) > GROUP_NAME_MAX)
			return smk_yaml_fail_at(&x->d, x->e, item,
						"admin group name must be 1 to %d bytes",
						GROUP_NAME_MAX);
		for (j = 0; j < i; j++)
			if (strcmp(c->admin_groups[j], s) == 0)
				return smk_yaml_fail_at(&x->d, x->e, item,
							"admin group \"%s\" is listed twice; list "
							"it once",
							s);
		found = smk_group_gid(s, &c->admin_gids[i], &err);
		if (found < 0)
			return smk_yaml_fail_at(
			    &x->d, x->e, item, "cannot look up group \"%s\": %s", s, strerror(err));
		if (found == 0)
			return smk_yaml_fail_at(&x->d, x->e, item,
						"unknown group \"%s\" in admin-groups; name one "
						"that exists on this host (getent group %s)",
						s, s);
		if ((c->admin_groups[i] = dup_or_fail(s, x->e)) == NULL)
			return -1;
		c->admin_group_count++;
	}
	return 0;
}

/* witnesses: [{key: VKEY, url: URL}, ...]: each key a type 0x04 verifier
 * key, no name twice; url http:// or https://, optional. */
static int load_witnesses(struct ctx *x, const smk_ynode *root)
{
	const smk_ynode *list = smk_yval_get(root, "witnesses");
	config *c = x->c;
	size_t i, j;

	if (list == NULL)
		return 0;
	if (bounded_list(x, list, "witnesses", COSIG_KEYS_MAX, "witnesses") < 0)
		return -1;
	c->witnesses = calloc(list->n + 1, sizeof(*c->witnesses));
	if (c->witnesses == NULL)
		return smk_fail(x->e, SMK_E_NOMEM, "out of memory");
	for (i = 0; i < list->n; i++) {
		const smk_ynode *item = list->items[i], *v;
		config_witness *w = &c->witnesses[i];
		const char *s;
		smk_err ke;

		c->witness_count++;
		w->line = item->line;
		w->col = item->col;
		if (smk_yval_map(&x->d, item, "a witnesses entry", x->e) < 0 ||
		    smk_yval_known_keys(&x->d, item, witness_keys, "in a witnesses entry", x->e) <
			0)
			return -1;
		if ((v = require(x, item, "key",
				 "give the witness's verifier key, e.g. key: "
				 "witness.example.org+1a2b3c4d+BASE64")) == NULL ||
		    smk_yval_string(&x->d, v, "key", &s, x->e) < 0)
			return -1;
		if (cosig_key_parse(s, strlen(s), &w->key, &ke) < 0)
			return smk_yaml_fail_at(&x->d, x->e, v, "%s", ke.msg);
		for (j = 0; j < i; j++)
			if (strcmp(c->witnesses[j].key.name, w->key.name) == 0)
				return smk_yaml_fail_at(&x->d, x->e, v,
							"witness %s is listed twice; list it once",
							w->key.name);
		if ((w->vkey = dup_or_fail(s, x->e)) == NULL)
			return -1;
		if ((v = smk_yval_get(item, "url")) != NULL) {
			if (smk_yval_string(&x->d, v, "url", &s, x->e) < 0)
				return -1;
			if ((strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0) ||
			    strlen(s) > 1024 || strpbrk(s, " \t\r\n") != NULL)
				return smk_yaml_fail_at(
				    &x->d, x->e, v,
				    "url \"%s\" is not an http:// or https:// submission prefix "
				    "(at most 1024 bytes, no white space)",
				    s);
			if ((w->url = dup_or_fail(s, x->e)) == NULL)
				return -1;
		}
	}
	return 0;
}

/* witness-user: NAME, an existing user. */
static int load_witness_user(struct ctx *x, const smk_ynode *root)
{
	const smk_ynode *n = smk_yval_get(root, "witness-user");
	const char *s;
	int found, err = 0;

	if (n == NULL)
		return 0;
	if (smk_yval_string(&x->d, n, "witness-user", &s, x->e) < 0)
		return -1;
	found = smk_user_uid(s, &x->c->witness_uid, &err);
	if (found < 0)
		return smk_yaml_fail_at(&x->d, x->e, n, "cannot look up user \"%s\": %s", s,
					strerror(err));
	if (found == 0)
		return smk_yaml_fail_at(&x->d, x->e, n,
					"unknown user \"%s\" in witness-user; name one that "
					"exists on this host (getent passwd %s)",
					s, s);
	x->c->witness_user = dup_or_fail(s, x->e);
	return x->c->witness_user ? 0 : -1;
}

static int load_root(struct ctx *x, const smk_ynode *root)
{
	config *c = x->c;
	/* the paths every configuration names, in the order they are checked */
	const struct {
		const char *key, *hint;
		char **path;
	} required[] = {
	    {"archive", "name the archive file, e.g. archive: /var/lib/smkeyd/archive.db",
	     &c->archive_path},
	    {"policies", "name the policy directory, e.g. policies: /etc/smkeyd/policies.d",
	     &c->policies_dir},
	    {"trust", "name the trust-anchor directory, e.g. trust: /etc/smkeyd/trust",
	     &c->trust_dir},
	};
	const smk_ynode *n;
	size_t i;

	if (smk_yval_known_keys(&x->d, root, top_keys, "", x->e) < 0)
		return -1;
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if ((n = require(x, root, required[i].key, required[i].hint)) == NULL ||
		    get_path(x, n, required[i].key, required[i].path) < 0)
			return -1;
	if ((n = smk_yval_get(root, "socket")) != NULL) {
		if (get_path(x, n, "socket", &c->socket_path) < 0)
			return -1;
		if (strlen(c->socket_path) >= 108) /* sizeof(sun_path) */
			return smk_yaml_fail_at(&x->d, x->e, n,
						"socket path is longer than 107 bytes, the limit "
						"of a Unix socket address");
	} else if ((c->socket_path = dup_or_fail("/run/smkeyd/smkeyd.sock", x->e)) == NULL) {
		return -1;
	}
	if (load_devices(x, root) < 0 || load_archive_key(x, root) < 0 ||
	    load_limits(x, root) < 0 || load_retry(x, root) < 0 || load_admin_groups(x, root) < 0 ||
	    load_witnesses(x, root) < 0 || load_witness_user(x, root) < 0 ||
	    load_idle_release(x, root) < 0)
		return -1;
	return 0;
}

int config_parse(const char *file, const uint8_t *text, size_t len, config **out, smk_err *e)
{
	struct ctx x;
	smk_ynode *root = NULL;
	const char *slash;
	int rc = -1;

	*out = NULL;
	memset(&x, 0, sizeof(x));
	x.d.file = file;
	x.d.code = SMK_E_FORMAT;
	x.d.what = "configuration";
	x.e = e;
	slash = strrchr(file, '/');
	if (slash == NULL)
		strcpy(x.dir, ".");
	else if ((size_t)(slash - file) >= sizeof(x.dir))
		return smk_fail(e, SMK_E_ARG, "%s: path too long", file);
	else
		snprintf(x.dir, sizeof(x.dir), "%.*s", (int)(slash == file ? 1 : slash - file),
			 file);
	if (smk_yaml_parse(&x.d, text, len, &root, e) < 0)
		return -1;
	if (root == NULL)
		return smk_yaml_fail_at(&x.d, e, NULL,
					"empty file; a configuration names at least archive, "
					"policies, trust and devices");
	if (root->kind != SMK_YNODE_MAP) {
		smk_yaml_fail_at(&x.d, e, root,
				 "the file holds %s; a configuration is a mapping of "
				 "\"key: value\" lines",
				 smk_ynode_kind_name(root));
		goto out;
	}
	x.c = calloc(1, sizeof(*x.c));
	if (x.c == NULL) {
		smk_fail(e, SMK_E_NOMEM, "out of memory");
		goto out;
	}
	x.c->limits.queue = 16;
	x.c->limits.message_size = 64 * 1024;
	x.c->limits.clients = 64;
	x.c->limits.clients_per_uid = 16;
	x.c->limits.request_timeout_ms = 10000;
	x.c->limits.idle_timeout_ms = 60000;
	x.c->limits.checkpoint_hold_ms = 100;
	x.c->limits.signature_hold_ms = 1000;
	x.c->retry_min_s = 2;
	x.c->retry_max_s = 300;
	x.c->idle_release_wait_s = 30;
	if ((x.c->file = dup_or_fail(file, e)) == NULL || load_root(&x, root) < 0)
		goto out;
	*out = x.c;
	x.c = NULL;
	rc = 0;
out:
	config_free(x.c);
	smk_ynode_free(root);
	return rc;
}

int config_load(const char *path, config **out, smk_err *e)
{
	smk_buf text = SMK_BUF_INIT;
	int rc = -1;

	*out = NULL;
	if (smk_read_file(path, CONFIG_FILE_MAX, &text, e) < 0)
		return -1;
	if (text.len > CONFIG_FILE_MAX)
		smk_fail(e, SMK_E_FORMAT, "%s: longer than %d bytes; a configuration is small",
			 path, CONFIG_FILE_MAX);
	else
		rc = config_parse(path, text.data, text.len, out, e);
	smk_buf_free(&text);
	return rc;
}

void config_free(config *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->device_count; i++) {
		free(c->devices[i].reader);
		free(c->devices[i].serial);
		free(c->devices[i].pin_file);
		free(c->devices[i].pin_credential);
	}
	free(c->devices);
	for (i = 0; i < c->admin_group_count; i++)
		free(c->admin_groups[i]);
	free(c->admin_groups);
	free(c->admin_gids);
	for (i = 0; i < c->witness_count; i++) {
		free(c->witnesses[i].vkey);
		free(c->witnesses[i].url);
	}
	free(c->witnesses);
	free(c->witness_user);
	free(c->file);
	free(c->socket_path);
	free(c->archive_path);
	free(c->policies_dir);
	free(c->trust_dir);
	free(c->archive_key_device);
	free(c);
}

int config_pin_path(const config_device *d, char *out, size_t n, smk_err *e)
{
	const char *dir;

	if (d->pin_file) {
		if ((size_t)snprintf(out, n, "%s", d->pin_file) >= n)
			return smk_fail(e, SMK_E_ARG, "pin-file path too long");
		return 0;
	}
	dir = getenv("CREDENTIALS_DIRECTORY");
	if (dir == NULL || dir[0] != '/')
		return smk_fail(
		    e, SMK_E_ARG,
		    "pin-credential %s: $CREDENTIALS_DIRECTORY is not set; start smkeyd "
		    "from its unit with LoadCredential=%s:FILE, or use pin-file",
		    d->pin_credential, d->pin_credential);
	if ((size_t)snprintf(out, n, "%s/%s", dir, d->pin_credential) >= n)
		return smk_fail(e, SMK_E_ARG, "pin-credential %s: path too long",
				d->pin_credential);
	return 0;
}
