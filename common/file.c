/* SPDX-License-Identifier: BSD-3-Clause */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int smk_read_file(const char *path, size_t max, smk_buf *out, smk_err *e)
{
	struct stat st;
	size_t got = 0;
	ssize_t r;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return smk_fail(e, SMK_E_IO, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return smk_fail(e, SMK_E_IO, "%s: not a regular file", path);
	}
	if (smk_buf_reserve(out, max + 1) < 0) {
		close(fd);
		return smk_fail(e, SMK_E_NOMEM, "%s: out of memory", path);
	}
	/* one byte past the limit, so a file that is too long is refused, not cut */
	while (got < max + 1) {
		r = read(fd, out->data + out->len + got, max + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			smk_fail(e, SMK_E_IO, "%s: read: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	out->len += got;
	rc = 0;
out:
	close(fd);
	return rc;
}

int smk_read_stream(const char *path, unsigned flags, size_t max, smk_buf *out, smk_err *e)
{
	int from_stdin = (flags & SMK_READ_STDIN) && strcmp(path, "-") == 0;
	FILE *f = from_stdin ? stdin : fopen(path, "rb");
	uint8_t chunk[4096];
	size_t got;
	int r = 0;

	if (f == NULL)
		return smk_fail(e, SMK_E_IO, "%s: %s", path, strerror(errno));
	while (r == 0 && (got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (out->len + got > max)
			r = smk_fail(e, SMK_E_FORMAT, "%s: larger than %zu bytes", path, max);
		else if (smk_buf_add(out, chunk, got) < 0)
			r = smk_fail(e, SMK_E_NOMEM, "%s: out of memory", path);
	}
	if (r == 0 && ferror(f))
		r = smk_fail(e, SMK_E_IO, "%s: read error", path);
	if (!from_stdin)
		fclose(f);
	return r;
}

static void outfile_clear(smk_outfile *o)
{
	free(o->path);
	free(o->tmp);
	o->path = o->tmp = NULL;
	o->f = NULL;
}

int smk_outfile_check(const char *path, unsigned flags, smk_err *e)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : smk_fail(e, SMK_E_IO, "%s: %s", path, strerror(errno));
	if (S_ISLNK(st.st_mode))
		return smk_fail(e, SMK_E_IO,
				"%s: is a symbolic link; not writing through it (remove it or "
				"choose another path)",
				path);
	if (!S_ISREG(st.st_mode))
		return smk_fail(e, SMK_E_IO,
				"%s: exists and is not a regular file; not replacing it", path);
	if (!(flags & SMK_OUT_FORCE))
		return smk_fail(e, SMK_E_IO, "%s: exists; not overwriting it (--force replaces it)",
				path);
	return 0;
}

int smk_outfile_open(smk_outfile *o, const char *path, unsigned flags, smk_err *e)
{
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
	int fd;

	memset(o, 0, sizeof(*o));
	o->flags = flags;
	if (strcmp(path, "-") == 0) {
		o->f = stdout;
		return 0;
	}
	if (path[0] == '\0' || (slash && slash[1] == '\0'))
		return smk_fail(e, SMK_E_ARG, "%s: not a file name", path);
	if (smk_outfile_check(path, flags, e) < 0)
		return -1;
	o->path = strdup(path);
	/* DIR/.NAME.XXXXXX: same directory, so the rename stays on one file system */
	o->tmp = malloc(strlen(path) + 9);
	if (o->path == NULL || o->tmp == NULL) {
		outfile_clear(o);
		return smk_fail(e, SMK_E_NOMEM, "%s: out of memory", path);
	}
	memcpy(o->tmp, path, dirlen);
	snprintf(o->tmp + dirlen, strlen(path) + 9 - dirlen, ".%s.XXXXXX", path + dirlen);
	fd = mkostemp(o->tmp, O_CLOEXEC);
	if (fd < 0) {
		smk_fail(e, SMK_E_IO, "%s: cannot create a file next to it: %s", path,
			 strerror(errno));
		outfile_clear(o);
		return -1;
	}
	o->f = fdopen(fd, "wb");
	if (o->f == NULL) {
		smk_fail(e, SMK_E_IO, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(o->tmp);
		outfile_clear(o);
		return -1;
	}
	return 0;
}

void smk_outfile_abort(smk_outfile *o)
{
	if (o->f != NULL && o->f != stdout)
		fclose(o->f);
	if (o->tmp != NULL)
		unlink(o->tmp);
	outfile_clear(o);
}

/* Put tmp at path; without force only when path does not exist. */
static int put_in_place(const smk_outfile *o, smk_err *e)
{
	if (o->flags & SMK_OUT_FORCE) {
		/* rename replaces a link itself, never its target; a symbolic
		 * link found at open was refused already */
		if (rename(o->tmp, o->path) < 0)
			return smk_fail(e, SMK_E_IO, "%s: %s", o->path, strerror(errno));
		return 0;
	}
	if (renameat2(AT_FDCWD, o->tmp, AT_FDCWD, o->path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		goto fail;
	/* a file system without RENAME_NOREPLACE: link(2) refuses an existing
	 * name (a dangling link too) just the same */
	if (link(o->tmp, o->path) < 0)
		goto fail;
	unlink(o->tmp);
	return 0;
fail:
	if (errno == EEXIST)
		return smk_fail(e, SMK_E_IO, "%s: exists; not overwriting it (--force replaces it)",
				o->path);
	return smk_fail(e, SMK_E_IO, "%s: %s", o->path, strerror(errno));
}

int smk_outfile_commit(smk_outfile *o, smk_err *e)
{
	mode_t mask;
	int rc = -1, fd;

	if (o->f == stdout) {
		o->f = NULL;
		if (fflush(stdout) != 0)
			return smk_fail(e, SMK_E_IO, "standard output: %s", strerror(errno));
		return 0;
	}
	if (o->f == NULL || o->tmp == NULL)
		return smk_fail(e, SMK_E_ARG, "output file: not open");
	mask = umask(0);
	umask(mask);
	fd = fileno(o->f);
	if (fflush(o->f) != 0 || ferror(o->f) || fchmod(fd, 0644 & ~mask) < 0 || fsync(fd) < 0) {
		smk_fail(e, SMK_E_IO, "%s: write failed: %s", o->path, strerror(errno));
		goto out;
	}
	if (fclose(o->f) != 0) {
		o->f = NULL;
		smk_fail(e, SMK_E_IO, "%s: write failed: %s", o->path, strerror(errno));
		goto out;
	}
	o->f = NULL;
	if (put_in_place(o, e) < 0)
		goto out;
	free(o->tmp);
	o->tmp = NULL;
	rc = 0;
out:
	smk_outfile_abort(o);
	return rc;
}

int smk_write_new_file(const char *path, const void *p, size_t n, unsigned flags, smk_err *e)
{
	smk_outfile o;

	if (smk_outfile_open(&o, path, flags, e) < 0)
		return -1;
	if (n > 0 && fwrite(p, 1, n, o.f) != n) {
		smk_fail(e, SMK_E_IO, "%s: write failed: %s", path, strerror(errno));
		smk_outfile_abort(&o);
		return -1;
	}
	return smk_outfile_commit(&o, e);
}
