/* SPDX-License-Identifier: BSD-3-Clause */
#include "pin.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A PIN, a CR LF and one byte more to notice that the input is too long. */
#define PIN_READ_MAX (PIN_MAX_LEN + 3)

/* Read at most PIN_READ_MAX bytes from fd into raw; -1 with errno on error. */
static ssize_t read_all(int fd, uint8_t *raw, size_t cap)
{
	size_t got = 0;
	ssize_t r;

	while (got < cap) {
		r = read(fd, raw + got, cap - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Check the bytes read and append the PIN to out. what names the source. */
static int pin_take(uint8_t *raw, size_t n, smk_buf *out, const char *what, smk_err *e)
{
	size_t i;

	if (n >= PIN_READ_MAX)
		return smk_fail(e, SMK_E_ARG, "%s: longer than a PIN (%d bytes at most)", what,
				PIN_MAX_LEN);
	if (n > 0 && raw[n - 1] == '\n')
		n--;
	if (n > 0 && raw[n - 1] == '\r')
		n--;
	if (n < PIN_MIN_LEN || n > PIN_MAX_LEN)
		return smk_fail(e, SMK_E_ARG, "%s: a PIN has %d to %d bytes", what, PIN_MIN_LEN,
				PIN_MAX_LEN);
	for (i = 0; i < n; i++)
		if (raw[i] < 0x20 || raw[i] == 0x7F)
			return smk_fail(e, SMK_E_ARG,
					"%s: control character in the PIN (more than one line?)",
					what);
	if (smk_buf_add(out, raw, n) < 0)
		return smk_fail(e, SMK_E_NOMEM, "%s: out of memory", what);
	return 0;
}

static int read_fd(int fd, smk_buf *out, const char *what, smk_err *e)
{
	uint8_t raw[PIN_READ_MAX];
	ssize_t n;
	int r;

	n = read_all(fd, raw, sizeof(raw));
	if (n < 0)
		r = smk_fail(e, SMK_E_IO, "%s: read: %s", what, strerror(errno));
	else
		r = pin_take(raw, (size_t)n, out, what, e);
	OPENSSL_cleanse(raw, sizeof(raw));
	return r;
}

static int read_file(const char *path, smk_buf *out, smk_err *e)
{
	char what[300];
	struct stat st;
	int fd, r;

	snprintf(what, sizeof(what), "PIN file %s", path);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return smk_fail(e, SMK_E_IO, "%s: %s", what, strerror(errno));
	if (fstat(fd, &st) < 0) {
		r = smk_fail(e, SMK_E_IO, "%s: %s", what, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		r = smk_fail(e, SMK_E_ARG, "%s: not a regular file", what);
	} else if (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP)) {
		r = smk_fail(e, SMK_E_DENIED,
			     "%s: mode %03o lets others read or write it (use 0600 or 0640)", what,
			     (unsigned)(st.st_mode & 0777));
	} else {
		r = read_fd(fd, out, what, e);
	}
	close(fd);
	return r;
}

int pin_source_file(smk_pin_source *s, const char *path, smk_err *e)
{
	smk_buf probe = SMK_BUF_INIT;
	int r;

	memset(s, 0, sizeof(*s));
	s->kept.secret = 1;
	if (path == NULL || path[0] == '\0')
		return smk_fail(e, SMK_E_ARG, "PIN file: no path given");
	probe.secret = 1;
	r = read_file(path, &probe, e);
	smk_buf_free(&probe);
	if (r < 0)
		return -1;
	s->path = strdup(path);
	if (s->path == NULL)
		return smk_fail(e, SMK_E_NOMEM, "PIN file %s: out of memory", path);
	return 0;
}

int pin_source_fd(smk_pin_source *s, int fd, smk_err *e)
{
	char what[64];

	memset(s, 0, sizeof(*s));
	s->kept.secret = 1;
	snprintf(what, sizeof(what), "PIN from fd %d", fd);
	return read_fd(fd, &s->kept, what, e);
}

int pin_get(const smk_pin_source *s, smk_buf *pin, smk_err *e)
{
	if (s == NULL)
		return smk_fail(e, SMK_E_ARG, "PIN: no PIN source configured");
	if (!pin->secret)
		return smk_fail(e, SMK_E_ARG, "PIN: destination buffer is not marked secret");
	if (s->path != NULL)
		return read_file(s->path, pin, e);
	if (s->kept.len == 0)
		return smk_fail(e, SMK_E_ARG, "PIN: no PIN source configured");
	if (smk_buf_add(pin, s->kept.data, s->kept.len) < 0)
		return smk_fail(e, SMK_E_NOMEM, "PIN: out of memory");
	return 0;
}

void pin_source_free(smk_pin_source *s)
{
	if (s == NULL)
		return;
	free(s->path);
	s->path = NULL;
	smk_buf_free(&s->kept);
}
