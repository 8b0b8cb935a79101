/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The pending-request files: <archive>.pending/<request id>.json says where
 * an open intent's key was going (label, device, key id), which the
 * archive's intent does not carry and recovery needs (docs/daemon.md, "A
 * Generate request", step 5). Written (fsync, rename) before the card is
 * asked, removed once the intent has an outcome.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

#define SIDECAR_MAX 4096

static int sidecar_path(engine *eng, const char *request_id, char *out, size_t n)
{
	return (size_t)snprintf(out, n, "%s/%s.json", eng->pending_dir, request_id) < n ? 0 : -1;
}

int pending_write(engine *eng, const char *request_id, const char *label, const char *serial,
		  unsigned key_id, smk_err *e)
{
	char path[4200], tmp[4300];
	json_t *o;
	char *text = NULL;
	int fd = -1, rc = -1, dfd;
	size_t len;

	if (sidecar_path(eng, request_id, path, sizeof(path)) < 0)
		return smk_fail(e, SMK_E_ARG, "pending directory path too long");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	o = json_pack("{s:s, s:s, s:s, s:i}", "request_id", request_id, "label", label, "device",
		      serial, "key_id", (int)key_id);
	if (o == NULL || (text = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT)) == NULL) {
		smk_fail(e, SMK_E_NOMEM, "out of memory");
		goto out;
	}
	len = strlen(text);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
		smk_fail(e, SMK_E_IO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, path) < 0) {
		smk_fail(e, SMK_E_IO, "%s: rename: %s", path, strerror(errno));
		goto out;
	}
	/* the rename is durable only once the directory is synced */
	dfd = open(eng->pending_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(tmp);
	free(text);
	json_decref(o);
	return rc;
}

void pending_remove(engine *eng, const char *request_id)
{
	char path[4200];

	if (sidecar_path(eng, request_id, path, sizeof(path)) == 0 && unlink(path) < 0 &&
	    errno != ENOENT)
		log_msg(LOG_WARNING, &(log_fields){.request_id = request_id},
			"cannot remove %s: %s", path, strerror(errno));
}

int pending_read(engine *eng, const char *request_id, pending_file *out, smk_err *e)
{
	char path[4200];
	json_error_t jerr;
	json_t *o;
	const char *rid, *label, *dev;
	json_int_t key_id;
	struct stat st;

	if (sidecar_path(eng, request_id, path, sizeof(path)) < 0)
		return smk_fail(e, SMK_E_ARG, "pending directory path too long");
	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : smk_fail(e, SMK_E_IO, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_size > SIDECAR_MAX)
		return smk_fail(e, SMK_E_FORMAT, "%s: not a small regular file", path);
	o = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL)
		return smk_fail(e, SMK_E_FORMAT, "%s:%d: %s", path, jerr.line, jerr.text);
	if (json_unpack(o, "{s:s, s:s, s:s, s:I !}", "request_id", &rid, "label", &label, "device",
			&dev, "key_id", &key_id) < 0 ||
	    strcmp(rid, request_id) != 0 || key_id < 1 || key_id > 255 ||
	    strlen(label) > POLICY_LABEL_MAX || strlen(dev) > CVC_REF_MAX) {
		json_decref(o);
		return smk_fail(e, SMK_E_FORMAT, "%s: not a pending-request file of %s", path,
				request_id);
	}
	snprintf(out->label, sizeof(out->label), "%s", label);
	snprintf(out->device, sizeof(out->device), "%s", dev);
	out->key_id = (unsigned)key_id;
	json_decref(o);
	return 1;
}
